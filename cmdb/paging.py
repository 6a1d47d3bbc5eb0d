"""limit/offset pagination: {"count", "next", "previous", "results"}.

Pure helpers, reused by every list endpoint (the incidents API too):
    limit, offset = paging.check(limit, offset)
    return paging.page(str(request.url), count, results, limit, offset)
"""

from __future__ import annotations

from typing import Generic, Optional, TypedDict, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from accounts.errors import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    """What page() returns (the response type list endpoints declare):
    `next`/`previous` are URLs with the filters kept, or null."""

    count: int
    next: Optional[str]
    previous: Optional[str]
    results: list[T]


def check(limit: int | None, offset: int | None) -> tuple[int, int]:
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be from 1 to {MAX_LIMIT}", field="limit")
    if offset < 0:
        raise Invalid("offset must not be negative", field="offset")
    return limit, offset


def _with(url: str, limit: int, offset: int) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("limit", "offset")]
    query += [("limit", str(limit)), ("offset", str(offset))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def page(url: str, count: int, results: list, limit: int, offset: int) -> dict:
    """The response for one page; `url` is the request's own URL (filters kept)."""
    return {
        "count": count,
        "next": _with(url, limit, offset + limit) if offset + limit < count else None,
        "previous": _with(url, limit, max(0, offset - limit)) if offset > 0 else None,
        "results": results,
    }
