"""CSV import and export over HTTP (/api/v1): thin handlers over cmdb.csvio.

- `POST /api/v1/import/{kind}` (admin): the CSV as the body (`text/csv`) or as
  a multipart upload (any file field). 200 with the report, or 422 problem
  details whose `errors` list every bad row (`row`, `column`, `message`);
  `?dry_run=true` checks without writing; `?background=true` answers 202 at
  once with the import's id.
- `GET /api/v1/imports/{id}` (admin): a background import's status, rows done
  so far, and its report when finished.
- `GET /api/v1/export/{kind}` (staff): every row as CSV, streamed.
"""

from __future__ import annotations

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from typing import Annotated

from litestar.params import FromPath, FromQuery, Parameter
from litestar.response import Response, Stream

from accounts.errors import Invalid
from accounts.http import CurrentViewer, require_admin, require_staff
from cmdb.csvio import ENCODINGS, KINDS, export_csv, import_csv, import_status, spec_for, start_background
from cmdb.schemas import ImportReport, ImportStatus
from validation.params import PathId
from validation.spreadsheet import csv_download

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
    background: Annotated[bool, Parameter(query="background", description="answer at once (202) with the import's "
                                          "id; follow it at GET /api/v1/imports/{id}")] = False,
) -> Response[ImportReport | ImportStatus]:
    spec_for(kind)
    data = await _csv_body(request)
    if background:
        started = await start_background(kind, data, viewer, dry_run=dry_run, encoding=encoding)
        return Response(started, status_code=202, headers={"Location": f"/api/v1/imports/{started['id']}"})
    report = await import_csv(kind, data, viewer, dry_run=dry_run, encoding=encoding)
    return Response(report.as_dict())


@get("/imports/{import_id:int}", guards=[require_admin],
     summary="A background import: status, rows done so far, and its report when finished")
async def import_progress(import_id: PathId, viewer: CurrentViewer) -> ImportStatus:
    return await import_status(viewer, import_id)


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
    return csv_download(export_csv(kind, viewer), f"{kind}.csv")


api_routes = [import_kind, import_progress, export_kind]
