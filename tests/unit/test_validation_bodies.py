"""validation.bodies: a typed body (dataclass or Struct) is checked field by
field and every problem is named at once, in validation's words."""

from dataclasses import dataclass, field
from typing import Literal

from validation.bodies import Body, Id, body_type, problems, text


class Ticket(Body):
    title: text(10, min_length=1)
    kind: Literal["a", "b"]
    owner: Id | None = None
    tags: list[int] = []


@dataclass
class Plain:
    name: str
    sizes: list[int] = field(default_factory=list)


def _by_field(found):
    return {e["field"]: e["message"] for e in found}


def test_every_bad_field_of_a_struct_is_named():
    found = _by_field(problems(Ticket, {"title": "x" * 11, "kind": "c", "owner": 0, "tags": [1, "t"], "zz": 1}))
    assert found == {
        "title": "is longer than 10 characters",
        "kind": "must be one of: a, b (got 'c')",
        "owner": "must be at least 1",
        "tags[1]": "must be a whole number",
        "zz": "unknown field; fields: title, kind, owner, tags",
    }
    assert _by_field(problems(Ticket, {"title": ""})) == {"title": "must not be empty", "kind": "kind is required"}
    assert problems(Ticket, {"title": "ok", "kind": "a", "owner": None}) == []
    assert problems(Ticket, [1]) == [{"field": "body", "message": "must be a JSON object"}]


def test_a_dataclass_body_is_checked_alike():
    assert _by_field(problems(Plain, {"sizes": "x"})) == {"name": "name is required", "sizes": "must be a list"}
    assert problems(Plain, {"name": "n", "sizes": ["3"]}) == []  # text digits pass, as the decoder (strict=False) takes them


def test_body_type_unwraps_optional_and_ignores_dicts():
    assert body_type(Ticket | None) == (Ticket, True)
    assert body_type(Plain) == (Plain, False)
    assert body_type(dict) is None
