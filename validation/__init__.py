"""One validation path for every input — JSON bodies, query strings, forms,
CSV cells, probe batches: bounded integers and ids, bounded text without
control characters, dates in a sane range, JSON depth, and a collector that
reports every problem of a request at once.

This package sits below every app (accounts, cmdb, incidents, pages and the
portal import it; it imports none of them), so a form and the API reject
the same input with the same words. `validation.errors` holds the domain
errors; `validation.params` the HTTP parameter types built on these bounds;
`validation.columns` reads column sizes from the tables, so the size a field
accepts and the size its column holds come from one declaration.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable, Iterator

from validation.errors import Invalid

#: ids are serial / INTEGER primary keys: 32-bit on PostgreSQL, whatever SQLite holds.
ID_MIN, ID_MAX = 1, 2**31 - 1
#: INTEGER columns (both engines hold at least this).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
#: `offset` of a list: beyond any table this product will hold, inside every engine's range.
MAX_OFFSET = ID_MAX
#: Text columns without a declared size (notes, addresses, descriptions, comments).
TEXT_MAX = 10_000
#: Nesting of a JSON body: every real body is at most 3 deep.
JSON_MAX_DEPTH = 32
#: A JSON request body (CSV imports have their own, larger limit).
BODY_MAX_BYTES = 2_000_000
#: Dates outside this range are typing errors and overflow date arithmetic (SLA clocks).
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)

#: C0 controls and DEL; tab, line feed and carriage return are allowed in multi-line text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f]")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")  # ASCII digits only: "²".isdigit() is True
_MAX_INT_TEXT = 40  # longer digit strings are not worth converting


def _fail(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", field=field, errors=[{"field": field, "message": message}])


# --------------------------------------------------------------------------- scalars


def integer(raw: Any, field: str, *, min: int = INT_MIN, max: int = INT_MAX) -> int:
    """A whole number within [min, max], from a JSON number or a text cell."""
    if isinstance(raw, bool):
        raise _fail(field, "must be a whole number")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if not _INTEGER.match(text) or len(text) > _MAX_INT_TEXT:
            raise _fail(field, f"must be a whole number (got {raw[:40]!r})")
        raw = int(text)
    if not isinstance(raw, int):
        raise _fail(field, "must be a whole number")
    if raw < min:
        raise _fail(field, f"must be at least {min}")
    if raw > max:
        raise _fail(field, f"must be at most {max}")
    return raw


def ident(raw: Any, field: str) -> int:
    """The id of a row: 1 .. 2^31-1 on both engines."""
    return integer(raw, field, min=ID_MIN, max=ID_MAX)


def optional_ident(raw: Any, field: str) -> int | None:
    """An id that may be left out: None or blank text is None, anything else must be an id."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return ident(raw, field)


def id_or_name(raw: Any) -> int | None:
    """The id a value spells where an id or a name may stand (a host in an alert, an
    audit actor): ASCII digits within the id range; None when it is a name."""
    text = str(raw).strip() if raw is not None else ""
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_INT_TEXT:
        return None
    value = int(text)
    return value if ID_MIN <= value <= ID_MAX else None


def control_character(value: str, multiline: bool = True) -> int | None:
    """Position of the first control character (NUL, ESC ...) or None."""
    found = (_CONTROL if multiline else _CONTROL_ONE_LINE).search(value)
    return found.start() if found else None


def text(raw: Any, field: str, *, max_length: int | None = TEXT_MAX, multiline: bool = True,
         strip: bool = True) -> str:
    """Text without control characters, at most `max_length` characters.
    Numbers are taken as their text ("2c" may arrive as 3 from a spreadsheet)."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise _fail(field, "must be text")
    at = control_character(raw, multiline)
    if at is not None:
        raise _fail(field, f"contains a control character (U+{ord(raw[at]):04X}) at position {at + 1}")
    value = raw.strip() if strip else raw
    if max_length is not None and len(value) > max_length:
        raise _fail(field, f"is longer than {max_length} characters")
    return value


def fits(value: Any, field: str, max_length: int | None, what: str = "") -> None:
    """A derived value (a normalised copy, a canonical form) must fit its column too."""
    if max_length is not None and isinstance(value, str) and len(value) > max_length:
        suffix = f" once {what}" if what else ""
        raise _fail(field, f"is longer than {max_length} characters{suffix}")


def sanitised(value: Any, max_length: int = TEXT_MAX) -> str:
    """Device-supplied text (sysDescr, trap messages): control characters
    dropped and length capped rather than the whole batch refused."""
    if value is None:
        return ""
    return _CONTROL.sub("", str(value))[:max_length]


def moment(raw: Any, field: str, *, need_offset: bool = True) -> dt.datetime:
    """An ISO 8601 date-time between 1970 and 2100, returned in UTC."""
    if isinstance(raw, dt.datetime):
        parsed = raw
    elif isinstance(raw, str) and len(raw) <= 64:
        value = raw.strip().replace("Z", "+00:00")
        if len(value) > 6 and value[-6] == " " and value[-3] == ":":
            value = value[:-6] + "+" + value[-5:]  # a '+' that arrived unescaped in a query string
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _fail(field, "must be an ISO 8601 date-time (e.g. 2026-05-01T10:00:00Z)") from None
    else:
        raise _fail(field, "must be an ISO 8601 date-time (e.g. 2026-05-01T10:00:00Z)")
    if parsed.tzinfo is None:
        if need_offset:
            raise _fail(field, "needs a time zone offset (e.g. Z or +02:00)")
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    try:
        parsed = parsed.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError):
        raise _fail(field, f"must be between {EARLIEST.year} and {LATEST.year}") from None
    if not EARLIEST <= parsed < LATEST:
        raise _fail(field, f"must be between {EARLIEST.year} and {LATEST.year}")
    return parsed


def choice(raw: Any, field: str, choices: tuple[str, ...]) -> str:
    if not isinstance(raw, str) or raw not in choices:
        shown = repr(raw)[:40] if isinstance(raw, (str, int, float)) else type(raw).__name__
        raise _fail(field, f"must be one of: {', '.join(choices)} (got {shown})")
    return raw


# --------------------------------------------------------------------------- JSON


def json_problems(value: Any, max_depth: int = JSON_MAX_DEPTH, limit: int = 20) -> list[dict]:
    """Problems of a decoded JSON document that no field can accept: nesting
    deeper than `max_depth` and control characters in strings (NUL breaks
    PostgreSQL). Walked without recursion, so any depth is safe to inspect."""
    problems: list[dict] = []
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack and len(problems) < limit:
        item, path, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= max_depth:
                problems.append({"field": path or "body", "message": f"JSON nested deeper than {max_depth} levels"})
                continue
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and control_character(key) is not None:
                    problems.append({"field": path or "body", "message": "a key contains a control character"})
                    continue
                stack.append((child, f"{path}.{key}" if isinstance(key, str) and path else
                              (key if isinstance(key, str) else f"{path}[{key}]"), depth + 1))
        elif isinstance(item, str):
            at = control_character(item)
            if at is not None:
                problems.append({"field": path or "body",
                                 "message": f"contains a control character (U+{ord(item[at]):04X}) at position {at + 1}"})
    return problems


# --------------------------------------------------------------------------- collecting


class Problems:
    """Collects every problem of one request, then raises them together:

        p = Problems()
        name = p.take(validation.text, data.get("name"), "name", max_length=200)
        p.raise_if_any()
    """

    def __init__(self) -> None:
        self.errors: list[dict] = []

    def add(self, field: str, message: str, **extra: Any) -> None:
        self.errors.append({"field": field, "message": message, **extra})

    def extend(self, exc: Invalid) -> None:
        self.errors.extend(exc.errors or [{"field": exc.field or "body", "message": exc.detail}])

    def take(self, check: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """check(*args, **kw), or None after recording its problem."""
        try:
            return check(*args, **kw)
        except Invalid as exc:
            self.extend(exc)
            return None

    def __bool__(self) -> bool:
        return bool(self.errors)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise invalid(self.errors)


def invalid(errors: list[dict]) -> Invalid:
    """One Invalid carrying every error; its detail names each field once."""
    detail = "; ".join(e["message"] if e["message"].startswith(str(e["field"])) else f"{e['field']}: {e['message']}"
                       for e in errors)
    return Invalid(detail, field=errors[0]["field"], errors=errors)
