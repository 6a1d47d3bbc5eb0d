"""Every error leaves as RFC 9457 problem details naming the field and the problem."""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from accounts.errors import DomainError
from database.transactions import DATA_ERRORS, INTEGRITY_ERRORS
from validation.requests import typed_body_problems

log = logging.getLogger("rackcard.http")

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, errors: list[dict] | None = None, instance: str | None = None) -> Response:
    body: dict = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON)


def on_domain_error(request: Request, exc: DomainError) -> Response:
    response = problem(exc.status, exc.title, exc.detail, exc.errors, request.url.path)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _field_of(key: str | None, source: str | None) -> str:
    if not key:
        return source or "body"
    # msgspec reports "$.field" / "$.items[0].field"
    return key[2:] if key.startswith("$.") else key


def on_validation_error(request: Request, exc: ValidationException) -> Response:
    errors = []
    in_body = False
    for item in exc.extra or []:
        if isinstance(item, dict):
            if item.get("source") == "body":
                in_body = True
                continue
            errors.append({"field": _field_of(item.get("key"), item.get("source")), "message": item.get("message", "")})
    if in_body:
        # msgspec names the first bad field of a body; list every one, in our words
        errors += typed_body_problems(request) or [
            {"field": _field_of(item.get("key"), "body"), "message": item.get("message", "")}
            for item in exc.extra or [] if isinstance(item, dict) and item.get("source") == "body"]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or str(exc.detail)
    return problem(422, "Invalid value", detail, errors, request.url.path)


def on_http_exception(request: Request, exc: HTTPException) -> Response:
    titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed", 409: "Conflict",
              413: "Request too large", 415: "Unsupported media type", 429: "Too many requests"}
    return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), None, request.url.path)


def on_integrity_error(request: Request, exc: Exception) -> Response:
    # The service layer names conflicts it can foresee; this catches the rest
    # (races that only the database saw) so they are still a 409, not a 500.
    log.info("integrity error on %s: %s", request.url.path, exc)
    return problem(409, "Conflict", f"the change conflicts with existing data: {exc}", None, request.url.path)


def on_data_error(request: Request, exc: Exception) -> Response:
    # Validation bounds every field by its column (validation/); a value the
    # database still refuses is a gap there, logged loudly, but the caller's
    # input was bad, not the server: 422.
    log.warning("value refused by the database on %s %s: %s", request.method, request.url.path, exc)
    return problem(422, "Invalid value", f"a value does not fit its column: {exc}", None, request.url.path)


def on_too_deep(request: Request, exc: RecursionError) -> Response:
    return problem(422, "Invalid value", "the body is nested too deeply", [{"field": "body", "message": "nested too deeply"}],
                   request.url.path)


def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal server error", "unexpected error; it was logged", None, request.url.path)


exception_handlers = {
    DomainError: on_domain_error,
    ValidationException: on_validation_error,
    HTTPException: on_http_exception,
    **{err: on_integrity_error for err in INTEGRITY_ERRORS},
    **{err: on_data_error for err in DATA_ERRORS},
    RecursionError: on_too_deep,
    Exception: on_unexpected,
}
