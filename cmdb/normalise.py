"""Normalised copies for the `*_norm` columns, pure. Search compares normalised
query text with these columns through B-tree indexes (prefix and exact
lookups), so both sides must be normalised by the same functions."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"\D")
#: A query that looks like a phone number: digits with the usual separators.
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-]+$")


def text(value: str | None) -> str:
    """Names: NFKC, case-folded, inner whitespace collapsed."""
    if not value:
        return ""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", value).casefold()).strip()


def email(value: str | None) -> str:
    return (value or "").strip().lower()


def phone(value: str | None) -> str:
    """Digits only; the Russian trunk prefix 8XXXXXXXXXX becomes 7XXXXXXXXXX,
    so '+7 (495) 123-45-67' and '84951234567' are the same number."""
    digits = _NOT_DIGIT.sub("", value or "")
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    return digits


def looks_like_phone(value: str) -> bool:
    return bool(_PHONE_LIKE.match(value.strip())) and len(phone(value)) >= 5


def serial(value: str | None) -> str | None:
    """Serial numbers: case-folded, no whitespace; empty means none."""
    if value is None:
        return None
    folded = _SPACE.sub("", unicodedata.normalize("NFKC", value)).casefold()
    return folded or None


def code(value: str | None) -> str:
    """Short codes (client, site): upper-case, no surrounding whitespace."""
    return (value or "").strip().upper()


def slug_code(value: str) -> str:
    """A code derived from a name when none is given: 'Moscow DC-2' -> 'MOSCOW-DC-2'."""
    return re.sub(r"[^0-9A-Z]+", "-", unicodedata.normalize("NFKC", value).upper()).strip("-")[:50]
