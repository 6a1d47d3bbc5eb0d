"""Every CSV rackcard writes, as a download (`csv_download`), with cells a
spreadsheet will not run (OWASP "CSV injection"): the CMDB exports, the
record lists' export.csv, the KPI and SLA reports. A text cell that starts like
a formula gets a leading apostrophe; the CMDB import takes it off again, so an
export imports back unchanged."""

from __future__ import annotations

from typing import Any, AsyncIterator

from litestar.response import Response, Stream

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def csv_download(content: str | AsyncIterator[str], filename: str) -> Response:
    """A CSV file to download: text, or text streamed as it is made (a long export)."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if isinstance(content, str):
        return Response(content, media_type=CSV_MEDIA_TYPE, headers=headers)
    return Stream(content, media_type=CSV_MEDIA_TYPE, headers=headers)

#: A spreadsheet runs a cell starting with these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """`text` as a cell a spreadsheet shows as text: a leading apostrophe before a formula start."""
    return "'" + text if text.startswith(FORMULA_START) else text


def inert_value(value: Any) -> Any:
    """A value for a CSV writer: text made inert; numbers (a negative count is no formula) and None as they are."""
    return inert(value) if isinstance(value, str) else value


def unquoted(cell: str) -> str:
    """A cell written by `inert`, back to its text."""
    return cell[1:] if cell.startswith("'") and cell[1:2] and cell[1] in "".join(FORMULA_START) else cell
