"""Every UI string is translated: the Russian catalogue has every message the
templates and page handlers use (extracted with Babel, as babel.cfg says), and
every message in it has a translation with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _method_map() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """babel.cfg, read the way pybabel reads it."""
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as fh:
        return parse_mapping_cfg(fh)


def _extracted() -> dict[str, str]:
    method_map, options_map = _method_map()
    found = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords={"_": None, "gettext": None, "ngettext": (1, 2)}
    ):
        for msgid in (message if isinstance(message, tuple) else (message,)):
            if msgid:
                found.setdefault(msgid, filename)
    return found


def _catalogue(language: str):
    with (ROOT / "locale" / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=language)


def test_templates_use_gettext_at_all():
    assert len(_extracted()) > 20


def test_every_ui_string_is_in_the_russian_catalogue():
    catalogue = _catalogue("ru")
    known = set()
    for message in catalogue:
        if message.id:
            known.update(message.id if isinstance(message.id, tuple) else (message.id,))
    missing = {msgid: where for msgid, where in _extracted().items() if msgid not in known}
    assert not missing, "not in locale/ru (run pybabel extract/update, see templates/README.md): " + repr(missing)


def test_every_russian_message_is_translated_with_the_same_placeholders():
    problems = []
    for message in _catalogue("ru"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if "fuzzy" in message.flags or not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for s in strings:
            if set(PLACEHOLDER.findall(s)) != wanted:
                problems.append(f"placeholders differ: {ids[0]!r} -> {s!r}")
    assert not problems, "\n".join(problems)


def test_the_catalogue_compiles():
    from rackcard.i18n import translations

    translations.cache_clear()
    assert translations("ru").gettext("Log in") == "Войти"
