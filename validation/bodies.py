"""Typed JSON bodies — the dataclass or msgspec Struct a handler declares as
`data` — checked field by field before the handler runs, so a body with three
bad fields gets three errors (msgspec, which then decodes it, stops at the
first). Unknown fields are refused as they are for the CMDB resources, and the
words are those of the rest of `validation` ("must be text", "is longer than
300 characters"). The bounds live in the field types (`Id`, `text(300)`,
`Literal[...]`), so the OpenAPI document shows them as well.

`requests.typed_body_problems` applies it when the decoder refused a typed
body: one path for every typed body, no per-handler copy.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Annotated, Any, Literal

import msgspec

from validation import ID_MAX, ID_MIN, TEXT_MAX, choice
from validation.errors import Invalid

#: The id of a row in a body: 1 .. 2^31-1 on both engines.
Id = Annotated[int, msgspec.Meta(ge=ID_MIN, le=ID_MAX)]


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of a JSON request body: unknown fields are refused (a typo is not
    silently dropped), every bad field listed at once."""


def text(max_length: int | None = TEXT_MAX, min_length: int = 0) -> Any:
    """A text field bounded like its column (`validation.columns.max_length(Table.column)`)."""
    return Annotated[str, msgspec.Meta(min_length=min_length, max_length=max_length or TEXT_MAX)]


_NOTHING = object()
_Field = tuple[str, Any, bool]  # name, type, required

# msgspec's words -> ours
_WORDS = {"str": "must be text", "int": "must be a whole number", "float": "must be a number",
          "bool": "must be true or false", "array": "must be a list", "object": "must be an object",
          "null": "must be null"}
_EXPECTED = re.compile(r"^Expected `(\w+)`(?:, got `\w+`)?$")
_LENGTH = re.compile(r"^Expected `(?:str|array|object)` of length (<=|>=) (\d+)$")
_RANGE = re.compile(r"^Expected `(?:int|float)` (<=|>=|<|>) (-?[\d.]+)$")
_AT = re.compile(r"^(.*) - at `\$(.*)`$")


def _words(message: str) -> str:
    if found := _LENGTH.match(message):
        op, n = found.groups()
        if op == ">=":
            return "must not be empty" if n == "1" else f"is shorter than {n} characters"
        return f"is longer than {n} characters"
    if found := _RANGE.match(message):
        op, n = found.groups()
        return {"<=": f"must be at most {n}", ">=": f"must be at least {n}",
                "<": f"must be less than {n}", ">": f"must be more than {n}"}[op]
    if found := _EXPECTED.match(message):
        return _WORDS.get(found.group(1), message)
    return message


def _literal(hint: Any) -> tuple[tuple[str, ...], bool] | None:
    """(choices, None allowed) of a `Literal[...]` or `Literal[...] | None` field."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is Literal:
        return tuple(args), False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and typing.get_origin(rest[0]) is Literal:
            return tuple(typing.get_args(rest[0])), len(rest) < len(args)
    return None


def _fields(cls: type) -> list[_Field]:
    hints = typing.get_type_hints(cls, include_extras=True)
    if dataclasses.is_dataclass(cls):
        return [(f.name, hints[f.name],
                 f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
                for f in dataclasses.fields(cls) if f.init]
    return [(f.encode_name, hints[f.name], f.required) for f in msgspec.structs.fields(cls)]


def problems(cls: type, document: Any) -> list[dict]:
    """Every problem of `document` as the body `cls`: {"field", "message"} each."""
    if not isinstance(document, dict):
        return [{"field": "body", "message": "must be a JSON object"}]
    fields = _fields(cls)
    names = [name for name, _, _ in fields]
    found: list[dict] = [{"field": str(key), "message": f"unknown field; fields: {', '.join(names)}"}
                         for key in document if key not in names]
    for name, hint, required in fields:
        raw = document.get(name, _NOTHING)
        if raw is _NOTHING:
            if required:
                found.append({"field": name, "message": f"{name} is required"})
            continue
        literal = _literal(hint)
        try:
            if literal is not None:
                if not (raw is None and literal[1]):
                    choice(raw, name, literal[0])
            else:
                msgspec.convert(raw, hint, strict=False)
        except Invalid as exc:
            found.extend(exc.errors)
        except msgspec.ValidationError as exc:
            message, at = str(exc), ""
            if where := _AT.match(message):
                message, at = where.groups()
            found.append({"field": name + at, "message": _words(message)})
    return found


_Typed = tuple[type, bool]  # the dataclass or Struct, and whether the body may be left out (null)


def body_type(annotation: Any) -> _Typed | None:
    """The dataclass or Struct behind a handler's `data` annotation (unwrapping
    Annotated and Optional), or None for a plain dict or no typed body."""
    optional = False
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        annotation = rest[0] if len(rest) == 1 else None
    if isinstance(annotation, type) and (dataclasses.is_dataclass(annotation)
                                         or issubclass(annotation, msgspec.Struct)):
        return annotation, optional
    return None


_BY_HANDLER: dict[int, tuple[Any, _Typed | None]] = {}


def handler_body(handler: Any) -> _Typed | None:
    """The typed body a route handler declares (cached per handler)."""
    cached = _BY_HANDLER.get(id(handler))
    if cached is not None and cached[0] is handler:
        return cached[1]
    signature = getattr(handler, "parsed_fn_signature", None)
    data = signature.parameters.get("data") if signature is not None else None
    found = body_type(data.annotation) if data is not None else None
    _BY_HANDLER[id(handler)] = (handler, found)
    return found


def problems_for(handler: Any, document: Any) -> list[dict]:
    """Problems of a decoded JSON body for `handler`'s typed body (none for
    untyped bodies, nor for a left-out optional one)."""
    body = handler_body(handler) if handler is not None else None
    if body is None or (document is None and body[1]):
        return []
    return problems(body[0], document)
