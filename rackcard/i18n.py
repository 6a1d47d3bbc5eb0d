"""UI languages: English source strings, translations in locale/<lang>/LC_MESSAGES/messages.po.

The .po files are the only source: they are compiled in memory when the app is
built (babel.messages.pofile -> mofile), so there is no build step and no
compiled .mo file to forget. Templates call `_()`/`gettext()`/`ngettext()`
(Jinja2's i18n extension, new style, so `%(name)s` placeholders are filled and
escaped); the language is chosen per request, see `language_of`.
"""

from __future__ import annotations

import datetime as dt
import gettext as _gettext
import io
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import pass_context

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
#: Every shipped language; English is the source language (no catalogue).
LANGUAGES = ("en", "ru")
#: The cookie a language choice is kept in before login (and for the login page).
LANGUAGE_COOKIE = "rc_lang"


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def translations(language: str) -> _gettext.NullTranslations:
    """The compiled catalogue of `language` (compiled once per process from its .po)."""
    path = po_path(language)
    if language == DEFAULT_LANGUAGE or not path.exists():
        return _gettext.NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def load_all() -> None:
    """Compile every catalogue now (at app start), so a broken .po fails the start, not a page."""
    for language in LANGUAGES:
        translations(language)


def parse_accept_language(header: str) -> str | None:
    """The best shipped language in an Accept-Language header ("ru-RU,ru;q=0.9,en;q=0.8" -> "ru")."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def language_of(request) -> str:
    """The user's setting, else the language cookie, else Accept-Language, else English."""
    cached = request.scope.get("rc_language")
    if cached:
        return cached
    viewer = getattr(request.state, "viewer", None)
    choice = getattr(viewer, "language", "") or request.cookies.get(LANGUAGE_COOKIE, "")
    if choice not in LANGUAGES:
        choice = parse_accept_language(request.headers.get("accept-language", "")) or DEFAULT_LANGUAGE
    request.scope["rc_language"] = choice
    return choice


def _request(context):
    return context.get("request")


@pass_context
def _gettext_in(context, message: str) -> str:
    request = _request(context)
    return translations(language_of(request)).gettext(message) if request is not None else message


@pass_context
def _ngettext_in(context, singular: str, plural: str, n: int) -> str:
    request = _request(context)
    if request is None:
        return singular if n == 1 else plural
    return translations(language_of(request)).ngettext(singular, plural, n)


@pass_context
def _current_language(context) -> str:
    request = _request(context)
    return language_of(request) if request is not None else DEFAULT_LANGUAGE


def zone_of(name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return dt.timezone.utc


def as_datetime(value) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def format_local(value, zone: dt.tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """`value` (aware datetime or ISO text) in `zone`, with the zone's abbreviation: "2026-11-29 23:05 MSK"."""
    moment = as_datetime(value)
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return f"{local.strftime(fmt)} {local.tzname() or ''}".strip()


@pass_context
def _localtime(context, value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    request = _request(context)
    viewer = getattr(request.state, "viewer", None) if request is not None else None
    return format_local(value, zone_of(getattr(viewer, "timezone", None)), fmt)


def install(environment) -> None:
    """Add gettext, the language and the time filter to a Jinja environment."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(_gettext_in, _ngettext_in, newstyle=True)  # type: ignore[attr-defined]
    environment.globals["current_language"] = _current_language
    environment.globals["LANGUAGES"] = LANGUAGES
    environment.filters["localtime"] = _localtime
