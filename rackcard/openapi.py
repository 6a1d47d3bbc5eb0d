"""The OpenAPI document tells the truth: the bearer scheme is declared, and
every operation lists the problem responses (RFC 9457, application/problem+json)
it can give — 401/403 from the guards, 404/409/413/422 from the services and
the validation path, 429 from the rate limit — with one Problem schema.

Applied to the document Litestar builds (so routes any app adds are covered
without each declaring them)."""

from __future__ import annotations

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
    SecurityScheme,
)

from rackcard.problems import PROBLEM_JSON

BEARER = "BearerToken"

PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "instance": Schema(type=OpenAPIType.STRING),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            description="one entry per problem: the field (or CSV row and column) and what is wrong",
            items=Schema(type=OpenAPIType.OBJECT, properties={
                "field": Schema(type=[OpenAPIType.STRING, OpenAPIType.NULL]),
                "message": Schema(type=OpenAPIType.STRING),
            }),
        ),
    },
    description="RFC 9457 problem details",
)

#: status -> when an API operation gives it.
PROBLEMS = {
    "400": "the request could not be read (malformed JSON, a missing multipart boundary)",
    "401": "no token, or an unknown or revoked one",
    "403": "the token's role may not do this (or set this field)",
    "404": "no such row",
    "409": "conflicts with existing data (names the row in the way)",
    "413": "the body is too large",
    "422": "invalid input: every bad field listed in `errors`",
    "429": "too many failed authentications from this address or for this account",
}


def _problem_response(description: str) -> OpenAPIResponse:
    return OpenAPIResponse(description=description,
                           content={PROBLEM_JSON: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))})


def document(openapi: OpenAPI) -> OpenAPI:
    """Declare the bearer scheme and the problem responses of every /api/ operation."""
    components = openapi.components if isinstance(openapi.components, Components) else Components()
    components.security_schemes = {
        **(components.security_schemes or {}),
        BEARER: SecurityScheme(type="http", scheme="bearer", description="`Authorization: Bearer <token>` "
                               "(rackcard token create)"),
    }
    components.schemas = {**(components.schemas or {}), "Problem": PROBLEM}
    openapi.components = components
    for path, item in (openapi.paths or {}).items():
        if not path.startswith("/api/"):
            continue
        for method in ("get", "put", "post", "patch", "delete"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            operation.security = [{BEARER: []}]
            responses = dict(operation.responses or {})
            for status, description in PROBLEMS.items():
                responses[status] = _problem_response(description)
            operation.responses = responses
    return openapi


class _DocumentedPlugin(OpenAPIPlugin):
    __slots__ = ()

    def _build_openapi(self) -> OpenAPI:
        return document(super()._build_openapi())


def install(app: Litestar) -> None:
    """Have the app serve `document(...)` of the document it builds (still lazily, on first request)."""
    app.plugins.get(OpenAPIPlugin).__class__ = _DocumentedPlugin
