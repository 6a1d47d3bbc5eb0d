"""The envelope of every HTTP request, checked before any handler runs (an
ASGI middleware, so it also covers routes other apps add): query strings and
path parameters without control characters and within size, path ids within
1..2^31-1, JSON bodies no deeper than JSON_MAX_DEPTH and without control
characters in their strings. Field-level checks stay with the services
(cmdb.resources, incidents.admin ...); this catches what would reach the
database or a decoder before them.

`typed_body_problems` serves the error handler: when a typed body (a
dataclass or Struct, decoded after the guards passed) fails, it lists every
bad field, not only the first one msgspec stopped at."""

from __future__ import annotations

import msgspec
from litestar import Request
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

import validation
from validation import bodies

#: A query-string value longer than this is no filter or search anyone typed.
QUERY_VALUE_MAX = 2000
_BODY_METHODS = {"POST", "PUT", "PATCH"}
#: Observation batches are checked field by field by their reader (incidents.checks), which
#: cleans device-supplied text rather than refusing the batch, and bounds every field.
FIELD_CHECKED = ("/api/v1/probe/observations",)


def _query_problems(request: Request, problems: validation.Problems) -> None:
    for key, value in request.query_params.multi_items():
        if validation.control_character(key, multiline=False) is not None:
            problems.add("query", "a parameter name contains a control character")
            continue
        problems.take(validation.text, value, key, max_length=QUERY_VALUE_MAX, multiline=False, strip=False)


def _path_problems(scope: Scope, problems: validation.Problems) -> None:
    for name, value in (scope.get("path_params") or {}).items():
        if isinstance(value, int) and not isinstance(value, bool):
            problems.take(validation.ident, value, name)
        elif isinstance(value, str):
            problems.take(validation.text, value, name, max_length=QUERY_VALUE_MAX, multiline=False, strip=False)


async def _json_problems(request: Request, problems: validation.Problems, path: str) -> None:
    body = await request.body()  # bounded by request_max_body_size (413); cached for the handler
    if not body:
        return
    try:
        document = msgspec.json.decode(body)
    except RecursionError:
        problems.add("body", f"JSON nested deeper than {validation.JSON_MAX_DEPTH} levels")
        return
    except msgspec.DecodeError:
        return  # the handler answers malformed JSON (400) itself
    if path.startswith(FIELD_CHECKED):
        return  # checked field by field where it is read (the hot path: no second walk)
    problems.errors.extend(validation.json_problems(document))


class RequestBounds(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request = Request(scope, receive)
        problems = validation.Problems()
        _query_problems(request, problems)
        _path_problems(scope, problems)
        if request.method in _BODY_METHODS and "json" in request.headers.get("content-type", ""):
            await _json_problems(request, problems, request.url.path)
        problems.raise_if_any()
        await next_app(scope, receive, send)


def typed_body_problems(request: Request) -> list[dict]:
    """Every problem of the request's typed JSON body (read from the cache the
    body was decoded from), or [] when the handler takes no typed body."""
    if bodies.handler_body(request.route_handler) is None:
        return []
    body = ScopeState.from_scope(request.scope).body
    if not isinstance(body, bytes) or not body:
        return []
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return []
    return bodies.problems_for(request.route_handler, document)
