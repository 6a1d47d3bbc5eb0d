"""limit/offset pagination: {"count", "next", "previous", "results"}.

Pure helpers, reused by every list endpoint (the incidents API too):
    limit, offset = paging.check(limit, offset)
    return paging.page(str(request.url), count, results, limit, offset)

The bounds are the ones of `validation.params` (Limit, Offset), so the
OpenAPI document and this check agree.
"""

from __future__ import annotations

from typing import Generic, Optional, TypedDict, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import validation
from validation.params import DEFAULT_LIMIT, MAX_LIMIT

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "check", "page"]

T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    """What page() returns (the response type list endpoints declare):
    `next`/`previous` are URLs with the filters kept, or null."""

    count: int
    next: Optional[str]
    previous: Optional[str]
    results: list[T]


def check(limit: int | str | None, offset: int | str | None) -> tuple[int, int]:
    """Both bounded; both problems reported at once."""
    problems = validation.Problems()
    limit = problems.take(validation.integer, DEFAULT_LIMIT if limit is None else limit, "limit", min=1, max=MAX_LIMIT)
    offset = problems.take(validation.integer, 0 if offset is None else offset, "offset", min=0,
                           max=validation.MAX_OFFSET)
    problems.raise_if_any()
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
