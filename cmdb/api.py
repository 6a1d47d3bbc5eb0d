"""CMDB REST API (/api/v1): thin handlers over cmdb.services.

The CRUD routes of every resource are built from its declaration in
cmdb/services.py by one factory, so the ten tables share one piece of code:
GET list (filters + limit/offset), GET one, POST (201), PATCH, DELETE (204).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, RequestBody, Schema
from typing import Annotated

from litestar.params import JSONBody, QueryParameter

from accounts.http import CurrentViewer, require_inventory, require_staff
from validation import ID_MAX, ID_MIN
from validation.params import Limit, Offset, PathId
from cmdb import paging, schemas, services
from cmdb.resources import Field, ResourceService
from cmdb.search import DEFAULT_LIMIT as SEARCH_LIMIT
from cmdb.search import MAX_LIMIT as SEARCH_MAX

ItemId = PathId
Body = JSONBody[dict[str, Any]]


def filters_of(request: Request) -> dict[str, str]:
    params = request.query_params
    return {k: params.get(k) for k in params.keys() if k not in ("limit", "offset", "sort")}


def _filters_doc(svc: ResourceService) -> str:
    names = ", ".join(f"`{n}`" for n in sorted(svc.r.filters))
    q = f" `q` matches {', '.join(svc.r.q_columns)} (substring)." if svc.r.q_columns else ""
    return (
        f"Filters (query string, comma = any of, `null` = empty): {names}.{q} "
        f"Pagination: `limit` (1-{paging.MAX_LIMIT}, default {paging.DEFAULT_LIMIT}), `offset`. "
        f"Order: `sort` = one of {', '.join(svc.sortable())}, `-` first for descending (default id)."
    )


# --------------------------------------------------------------------------- OpenAPI from the declarations

_JSON_TYPES = {"int": OpenAPIType.INTEGER, "str": OpenAPIType.STRING, "bool": OpenAPIType.BOOLEAN}


def _field_schema(f: Field) -> Schema:
    if f.type == "ids":
        return Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.INTEGER, minimum=ID_MIN, maximum=ID_MAX),
                      description=f"ids of {f.ref_label}s")
    kind = _JSON_TYPES[f.type]
    notes = [n for n in (
        f.ref is not None and f"id of a {f.ref_label}",
        f.secret and "secret: write-only (answers carry `" + f.name + "_set`)",
        f.admin_only and "administrators only",
        f.internal and "internal: staff only",
    ) if n]
    low, high = (ID_MIN, ID_MAX) if f.ref is not None else (f.min, f.max)
    return Schema(
        type=[kind, OpenAPIType.NULL] if f.nullable else kind,
        enum=[*f.choices, *([None] if f.nullable else [])] if f.choices else None,
        minimum=low, maximum=high, max_length=f.max_length,
        description="; ".join(notes) or None,
    )


def resource_schema(svc: ResourceService, *, partial: bool = False, output: bool = False) -> Schema:
    r = svc.r
    props = {f.name: _field_schema(f) for f in r.fields if not (output and f.secret)}
    if output:
        props = {"id": Schema(type=OpenAPIType.INTEGER), **props}
        props.update({n: Schema(type=OpenAPIType.INTEGER) for n in r.output})
        props.update({f"{f.name}_set": Schema(type=OpenAPIType.BOOLEAN) for f in r.fields if f.secret})
    required = ["id"] if output else [] if partial else [f.name for f in r.fields if f.required]
    return Schema(type=OpenAPIType.OBJECT, properties=props, required=required or None, title=r.name)


def _page_schema(item: Schema) -> Schema:
    nullable_url = Schema(type=[OpenAPIType.STRING, OpenAPIType.NULL])
    return Schema(type=OpenAPIType.OBJECT, required=["count", "next", "previous", "results"], properties={
        "count": Schema(type=OpenAPIType.INTEGER), "next": nullable_url, "previous": nullable_url,
        "results": Schema(type=OpenAPIType.ARRAY, items=item),
    })


def _documented(body: Schema | None, response: Schema | None) -> type[Operation]:
    """An Operation class that documents the declared body and response
    (the handlers take and return plain dicts, validated by the service layer)."""

    @dataclass
    class DeclaredOperation(Operation):
        def __post_init__(self) -> None:
            if body is not None:
                self.request_body = RequestBody(content={"application/json": OpenAPIMediaType(schema=body)}, required=True)
            for code, answer in (self.responses or {}).items():
                if response is not None and code.startswith("2") and isinstance(answer, OpenAPIResponse) and answer.content:
                    answer.content = {"application/json": OpenAPIMediaType(schema=response)}

    return DeclaredOperation


# --------------------------------------------------------------------------- routes


def resource_controller(svc: ResourceService) -> type[Controller]:
    r = svc.r
    fields = ", ".join(f"`{f.name}`" for f in r.fields)
    item = resource_schema(svc, output=True)

    writers = [require_staff] if r.writers == "staff" else [require_inventory]

    class ResourceController(Controller):
        path = f"/{r.path}"
        guards = [require_staff]
        tags = [r.path]

        @get("/", summary=f"List {r.path}", description=f"{r.summary}. {_filters_doc(svc)}",
             operation_class=_documented(None, _page_schema(item)))
        async def list_items(
            self,
            request: Request,
            viewer: CurrentViewer,
            limit: Limit = paging.DEFAULT_LIMIT,
            offset: Offset = 0,
        ) -> dict:
            limit, offset = paging.check(limit, offset)
            found = await svc.list(viewer, filters_of(request), limit, offset, sort=request.query_params.get("sort"))
            return paging.page(str(request.url), found["count"], found["results"], limit, offset)

        @post("/", summary=f"Create a {r.name}", description=f"Fields: {fields}.",
              operation_class=_documented(resource_schema(svc), item), guards=writers)
        async def create_item(self, viewer: CurrentViewer, data: Body) -> dict:
            return await svc.create(viewer, data)

        @get("/{item_id:int}", summary=f"One {r.name}", operation_class=_documented(None, item))
        async def get_item(self, viewer: CurrentViewer, item_id: ItemId) -> dict:
            return await svc.get(viewer, item_id)

        @patch("/{item_id:int}", summary=f"Change some fields of a {r.name}", description=f"Fields: {fields}.",
               operation_class=_documented(resource_schema(svc, partial=True), item), guards=writers)
        async def update_item(self, viewer: CurrentViewer, item_id: ItemId, data: Body) -> dict:
            return await svc.update(viewer, item_id, data)

        @delete("/{item_id:int}", summary=f"Delete a {r.name} (409 while something still references it)",
                guards=writers)
        async def delete_item(self, viewer: CurrentViewer, item_id: ItemId) -> None:
            await svc.delete(viewer, item_id)

    ResourceController.__name__ = ResourceController.__qualname__ = f"{r.path.title().replace('-', '')}Controller"
    return ResourceController


@get(
    "/prefixes/{item_id:int}/next-free-ip",
    guards=[require_staff],
    tags=["prefixes"],
    summary="The lowest free address of a prefix",
    description="Skips the network and broadcast addresses (IPv4 shorter than /31) and addresses already "
    "recorded in the prefix's VRF; 409 when the prefix is full.",
)
async def next_free_ip(viewer: CurrentViewer, item_id: ItemId) -> schemas.NextFreeIp:
    return await services.next_free_ip(viewer, item_id)


@get(
    "/search",
    guards=[require_staff],
    tags=["search"],
    summary="One box: clients, contacts (phone in any format), assets (name, serial), IPs, prefixes, sites, racks",
    description="Results carry `type`, `id`, `label`, `client_id`, `client_name`; best match first "
    "(exact > prefix > prefix of a word > substring). An address inside a client's prefix finds that client.",
)
async def search(viewer: CurrentViewer, q: Annotated[str, QueryParameter()] = "",
    limit: Annotated[int, QueryParameter(ge=1, le=SEARCH_MAX)] = SEARCH_LIMIT,) -> schemas.SearchResults:
    return {"q": q, "results": await services.search(viewer, q, limit)}


api_routes: list = [*(resource_controller(s) for s in services.BY_PATH.values()), next_free_ip, search]
