"""The OpenAPI document tells the truth about responses: every operation's
200/201 JSON response has a schema with fields (not a bare `object`), and the
card, search and incident responses name the fields they really return."""

from __future__ import annotations

import pytest

from rackcard.app import create_app
from rackcard.settings import Settings


@pytest.fixture(scope="module")
def doc(tmp_path_factory) -> dict:
    var = tmp_path_factory.mktemp("var")
    settings = Settings.from_env({"RACKCARD_SECRET_KEY": "t" * 40, "RACKCARD_VAR_DIR": str(var),
                                  "RACKCARD_DATABASE_URL": f"sqlite:///{var}/x.sqlite"})
    return create_app(settings, manage_db=False, background=False).openapi_schema.to_schema()


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def bare(doc: dict, schema: dict) -> bool:
    """True when the schema says nothing of the fields: {} or {"type": "object"}
    (also as the items of an array, or a branch of a oneOf)."""
    schema = _resolve(doc, schema)
    for branch in ("oneOf", "anyOf"):
        if branch in schema:
            return any(bare(doc, s) for s in schema[branch] if _resolve(doc, s).get("type") != "null")
    kind = schema.get("type")
    if kind == "array":
        return bare(doc, schema.get("items", {}))
    if kind in (None, "object"):
        extra = schema.get("additionalProperties")
        return not schema.get("properties") and not (isinstance(extra, dict) and extra)
    return False


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, op


#: Responses still without a type. Empty: every 200/201 JSON response is typed, and the test fails on
#: any bare one (tests/integration/test_response_schemas.py holds the types to real answers).
NOT_YET_TYPED: set[str] = set()


def test_no_operation_answers_a_bare_object(doc):
    found = set()
    for method, path, op in operations(doc):
        for code in ("200", "201"):
            for media, content in ((op.get("responses", {}).get(code) or {}).get("content") or {}).items():
                if "json" in media and bare(doc, content.get("schema", {})):
                    found.add(f"{method} {path}")
    new = sorted(found - NOT_YET_TYPED)
    assert not new, "responses without a schema of their fields:\n" + "\n".join(new)
    typed = sorted(NOT_YET_TYPED - found)
    assert not typed, "typed now (or gone): take them off NOT_YET_TYPED:\n" + "\n".join(typed)


def test_the_walker_catches_a_bare_object(doc):
    assert bare(doc, {"type": "object"}) and bare(doc, {}) and bare(doc, {"type": "array", "items": {"type": "object"}})
    assert bare(doc, {"oneOf": [{"type": "object"}, {"type": "null"}]})
    assert not bare(doc, {"type": "object", "properties": {"id": {"type": "integer"}}})


def _fields(doc: dict, path: str, method: str = "get", code: str = "200") -> dict:
    schema = doc["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]
    return _resolve(doc, schema)["properties"]


def test_card_search_and_incident_schemas_name_their_fields(doc):
    card = _fields(doc, "/api/v1/clients/{item_id}/card")
    assert {"client", "contacts", "ip_addresses", "prefixes", "services_by_site", "racks", "assets", "dependencies",
            "open_incidents", "incident_history"} <= set(card)
    client = _resolve(doc, card["client"])["properties"]
    assert {"id", "code", "name", "status", "sla_plan_id"} <= set(client)
    assets = _resolve(doc, card["assets"])["properties"]
    assert _resolve(doc, assets["items"]["items"])["properties"]["mgmt_ip"]

    search = _fields(doc, "/api/v1/search")
    hit = _resolve(doc, search["results"]["items"])["properties"]
    assert {"type", "id", "label", "client_id", "client_name", "matched", "detail", "url"} <= set(hit)

    incident = _fields(doc, "/api/v1/incidents/{incident_id}")
    assert {"id", "title", "status", "priority", "allowed_transitions", "response_due_at", "affected_assets",
            "affected_clients", "timeline"} <= set(incident)
    assert _resolve(doc, incident["timeline"]["items"])["properties"]["visibility"]
    created = _fields(doc, "/api/v1/incidents", "post", "201")
    assert "timeline" in created
    page = _fields(doc, "/api/v1/incidents")
    assert {"count", "next", "previous", "results"} <= set(page)
    assert "fingerprint" in _resolve(doc, page["results"]["items"])["properties"]


def test_csv_export_is_documented_as_csv(doc):
    assert list(doc["paths"]["/api/v1/export/{kind}"]["get"]["responses"]["200"]["content"]) == ["text/csv"]


def test_every_operation_is_grouped_under_a_tag(doc):
    """The API docs list operations by tag: an untagged one lands in a catch-all
    `default` group at the bottom, where nobody looks for it."""
    untagged = [f"{method} {path}" for method, path, op in operations(doc) if not op.get("tags")]
    assert not untagged, untagged


PROBLEM_STATUSES = ("400", "401", "403", "404", "409", "413", "422", "429")


def test_the_bearer_scheme_is_declared_and_required(doc):
    scheme = doc["components"]["securitySchemes"]["BearerToken"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer", scheme
    api_operations = [(method, path, op) for method, path, op in operations(doc) if path.startswith("/api/v1/")]
    assert len(api_operations) > 80
    unsecured = [f"{method} {path}" for method, path, op in api_operations if op.get("security") != [{"BearerToken": []}]]
    assert not unsecured, unsecured


def test_every_api_operation_documents_its_problem_responses(doc):
    """401/403 from the guards, 404/409/413/422 from the services and the validation
    path, 429 from the rate limit: each as application/problem+json with the Problem schema."""
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    assert problem["properties"]["errors"]["items"]["properties"].keys() >= {"field", "message"}
    missing = []
    for method, path, op in operations(doc):
        if not path.startswith("/api/v1/"):
            continue
        for status in PROBLEM_STATUSES:
            content = (op["responses"].get(status) or {}).get("content") or {}
            if list(content) != ["application/problem+json"] or \
                    content["application/problem+json"]["schema"] != {"$ref": "#/components/schemas/Problem"}:
                missing.append(f"{method} {path} {status}")
    assert not missing, "problem responses not documented:\n" + "\n".join(missing)
