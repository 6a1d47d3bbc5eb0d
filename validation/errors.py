"""Domain errors every layer may raise (this package sits below all apps).

The web layer turns them into RFC 9457 problem details; the CLI prints them.
`field` names the offending input so a person can fix it.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, field: str | None = None, errors: list[dict] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.errors = errors if errors is not None else ([{"field": field, "message": detail}] if field else [])


class Invalid(DomainError):
    status = 422
    title = "Invalid value"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class TooLarge(DomainError):
    status = 413
    title = "Request too large"


class TooMany(DomainError):
    """Too many attempts (a rate limit); `retry_after` seconds until the next may pass."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int = 60, field: str | None = None):
        super().__init__(detail, field=field)
        self.retry_after = retry_after
