"""Answers checked against the schemas the app's own OpenAPI document declares
for them (shared by the tests that hold response types to real data)."""

from __future__ import annotations

import re

import jsonschema_rs


def document(app) -> dict:
    return app.openapi_schema.to_schema()


def _operation(doc: dict, method: str, url: str) -> dict:
    path = url.split("?", 1)[0]
    for template, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError(f"{method} {path} is not in the document")


def conforms(doc: dict, response, method: str | None = None) -> dict:
    method = method or response.request.method
    assert response.status_code in (200, 201), (method, str(response.url), response.text[:500])
    op = _operation(doc, method, response.request.url.path)
    schema = op["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    validator = jsonschema_rs.Draft202012Validator({**schema, "components": doc["components"]})
    body = response.json()
    problems = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(body)]
    assert not problems, (method, str(response.url), problems[:10])
    return body
