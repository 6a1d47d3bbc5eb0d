"""CSV import and export over HTTP (/api/v1): thin handlers over cmdb.csvio.

- `POST /api/v1/import/{kind}` (admin): the CSV as the body (`text/csv`) or as
  a multipart upload (any file field). 200 with the report, or 422 problem
  details whose `errors` list every bad row (`row`, `column`, `message`);
  `?dry_run=true` checks without writing.
- `GET /api/v1/export/{kind}` (staff): every row as CSV, streamed.
"""

from __future__ import annotations

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from typing import Annotated

from litestar.params import FromPath, FromQuery, Parameter
from litestar.response import Stream

from accounts.errors import Invalid
from accounts.http import CurrentViewer, require_admin, require_staff
from cmdb.csvio import ENCODINGS, KINDS, export_csv, import_csv, spec_for
from cmdb.schemas import ImportReport

_KINDS_TEXT = ", ".join(KINDS)
MAX_CSV_BYTES = 100_000_000


async def _csv_body(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        for value in form.values():
            if isinstance(value, UploadFile):
                return await value.read()
        raise Invalid("the multipart form has no file: upload the CSV as a file field", field="file")
    body = await request.body()
    if not body.strip():
        raise Invalid("the request body is empty: send the CSV (text/csv) or a multipart upload", field="body")
    return body


@post(
    "/import/{kind:str}",
    guards=[require_admin],
    status_code=200,
    # 100,000 assets are ~10 MB of CSV, Litestar's default limit; the whole file is one transaction anyway.
    request_max_body_size=MAX_CSV_BYTES,
    summary="Import a CSV file (all or nothing)",
    description=f"kind: {_KINDS_TEXT}. Body: the CSV (text/csv) or a multipart upload. "
    "Columns are the API's field names; references by id (site_id ...) or natural key "
    "(site = code or name, client = code, rack = name at the row's site, asset = serial or unique name). "
    "If any row is bad nothing is imported and the 422 problem lists every bad row (row, column, message); "
    "the header is row 1.",
)
async def import_kind(
    kind: FromPath[str], request: Request, viewer: CurrentViewer, dry_run: FromQuery[bool] = False,
    encoding: Annotated[str | None, Parameter(query="encoding", max_length=32, description="the file's encoding "
                                              f"when not UTF-8, e.g. {', '.join(ENCODINGS)} (default: detected)")] = None,
) -> ImportReport:
    spec_for(kind)
    data = await _csv_body(request)
    report = await import_csv(kind, data, viewer, dry_run=dry_run, encoding=encoding)
    return report.as_dict()


@get(
    "/export/{kind:str}",
    guards=[require_staff],
    media_type="text/csv",
    summary="Export a list as CSV",
    description=f"kind: {_KINDS_TEXT}. The format `POST /api/v1/import/{{kind}}` reads back "
    "(references as natural keys). SNMP secrets only for administrators.",
)
async def export_kind(kind: FromPath[str], viewer: CurrentViewer) -> Stream:
    spec_for(kind)
    return Stream(
        export_csv(kind, viewer),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind}.csv"'},
    )


api_routes = [import_kind, export_kind]
