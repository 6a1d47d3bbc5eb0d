"""HTTP parameter types built on the bounds of `validation`: a path id, a
query id, limit and offset. Litestar checks them before a handler runs and
the OpenAPI document shows the same bounds (minimum/maximum), so a client
generated from it cannot send what the database would choke on."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from validation import ID_MAX, ID_MIN, MAX_OFFSET

#: Pagination bounds shared by every list (cmdb.paging re-exports them).
DEFAULT_LIMIT = 50
MAX_LIMIT = 500

#: `/things/{id:int}` -> `thing_id: PathId`
PathId = Annotated[int, Parameter(ge=ID_MIN, le=ID_MAX)]
#: `?client_id=` as a single id
QueryId = Annotated[int | None, Parameter(ge=ID_MIN, le=ID_MAX, query=None)]
Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"page size, 1-{MAX_LIMIT}")]
Offset = Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="rows to skip")]
