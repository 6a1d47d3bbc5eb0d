"""CSV import and export of the inventory lists.

Import is all-or-nothing per file: every row goes through the same service
functions as the REST API (cmdb.services), inside one transaction; a row that
fails is rolled back to its savepoint so the rest can still be checked, and if
any row failed the whole file is rolled back and the report lists every bad row
(row number as in the file, header = row 1; column; problem).

On SQLite (one writer for the whole database) a long import instead commits in
short chunks so other writers keep flowing; each chunk records what it made
(ImportRun), and a failed import — or one whose process died, found by its
stale heartbeat — has all of it deleted again. Rows of a running import are
visible to readers until then.

Columns use the API's field names. References may be given by id (`site_id`,
`client_id`, `rack_id`, `asset_id`) or by natural key:

- `site`   — site code or name
- `client` — client code
- `rack`   — rack name at the row's site
- `asset`, `depends_on` — asset serial, or its name when that is unique
- `assets` — a service's assets: serials or names separated by `|`
  (or `asset_ids`, ids separated by `|`)

An interface's `service_id` has no natural key: it is exported and imported as
an id.

The columns are derived from the service declarations (cmdb.services), so a
field added to the API is a CSV column too.

Export writes the natural keys (plus the row's `id`, ignored on import), so an
export imports into an empty database as the same rows, in the order of KINDS.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import functools
import io
import json
import time
from dataclasses import dataclass, field
import logging
from typing import AsyncIterator, Callable, Iterable, Iterator

import charset_normalizer

from database.transactions import INTEGRITY_ERRORS, atomic, current_engine, is_sqlite, writers_waiting
from accounts.errors import DomainError, Forbidden, Invalid, NotFound
from accounts.services import audit
from accounts.viewer import Viewer
import validation
from validation.spreadsheet import inert, unquoted
from cmdb import normalise
from cmdb.resources import MISSING
from cmdb.tables import Asset, Client, ImportRun, ImportRunRow, Rack, Site

#: Kinds in the order an empty database must import them (references point back).
KINDS = (
    "sites", "clients", "contacts", "racks", "assets", "prefixes", "ip-addresses", "services", "interfaces",
    "dependencies",
)
#: Separates the items of a list cell (a service's assets).
LIST_SEPARATOR = "|"
#: The longest cell read: a Text column's bound (longer cells are row problems).
MAX_CELL = validation.TEXT_MAX

#: API reference field -> the natural-key column that may stand in for it.
NATURAL_KEYS = {
    "site_id": "site",
    "client_id": "client",
    "rack_id": "rack",
    "asset_id": "asset",
    "depends_on_id": "depends_on",
    "asset_ids": "assets",
}
#: Natural-key column -> what it names (a dependency's `depends_on` and a service's `assets` are assets);
#: the same on import (References) and export (_Labels).
NAMES = {"site": "site", "client": "client", "rack": "rack", "asset": "asset", "depends_on": "asset", "assets": "asset"}


@dataclass(frozen=True)
class Column:
    name: str  # CSV header: an API field name, or a natural key standing in for a reference
    target: str  # the API field it fills
    natural: bool = False  # a natural key (site code, client code ...) resolved to an id
    many: bool = False  # a list, items separated by LIST_SEPARATOR


@dataclass(frozen=True)
class KindSpec:
    """The columns of one kind, derived from the service's own declaration
    (cmdb.services), so the CSV can never drift from the API's fields."""

    kind: str
    service: object  # cmdb.resources.ResourceService
    columns: tuple[Column, ...]
    required: tuple[tuple[str, ...], ...]  # each: one of these columns must be present

    @property
    def table(self):
        return self.service.table

    def column(self, name: str) -> Column | None:
        for column in self.columns:
            if column.name == name:
                return column
        return None

    @property
    def fields(self):
        """The API fields a CSV carries: the stored ones and lists of references (asset_ids)."""
        return [f for f in self.service.r.fields if f.stored or f.type == "ids"]


def _spec(kind: str) -> KindSpec:
    from cmdb import services

    service = services.BY_PATH[kind]
    columns: list[Column] = []
    required: list[tuple[str, ...]] = []
    for f in service.r.fields:
        many = f.type == "ids"
        if not f.stored and not many:
            continue
        columns.append(Column(f.name, f.name, many=many))
        alternatives = (f.name,)
        if f.ref is not None and f.name in NATURAL_KEYS:
            columns.append(Column(NATURAL_KEYS[f.name], f.name, natural=True, many=many))
            alternatives = (NATURAL_KEYS[f.name], f.name)
        if f.required and f.default is MISSING:
            required.append(alternatives)
    return KindSpec(kind, service, tuple(columns), tuple(required))


_SPECS: dict[str, KindSpec] = {}


def spec_for(kind: str) -> KindSpec:
    if kind not in KINDS:
        raise NotFound(f"unknown kind {kind!r}; one of: {', '.join(KINDS)}", field="kind")
    if kind not in _SPECS:
        _SPECS[kind] = _spec(kind)
    return _SPECS[kind]


def export_columns(kind: str, viewer: Viewer) -> list[str]:
    """`id`, then every field in the API's order, references as natural keys."""
    spec = spec_for(kind)
    out = ["id"]
    for f in spec.fields:
        if f.secret and not viewer.is_admin:
            continue  # administrators get them sealed (see export_rows), so an export imports back
        out.append(NATURAL_KEYS.get(f.name, f.name) if f.ref is not None else f.name)
    return out


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class RowError:
    row: int  # as in the file: the header is row 1
    column: str | None
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "field": self.column, "message": self.message}

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    kind: str
    rows: int = 0  # data rows read
    created: int = 0  # rows applied (0 when rejected or a dry run)
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_rows(self) -> int:
        return len({e.row for e in self.errors})

    def summary(self) -> str:
        if not self.ok:
            return (
                f"{self.kind}: {self.bad_rows} of {self.rows} rows have problems; nothing was imported"
            )
        verb = "would import" if self.dry_run else "imported"
        return f"{self.kind}: {verb} {self.rows} rows"

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "dry_run": self.dry_run,
            "errors": [e.as_dict() for e in self.errors],
        }


class ImportRejected(Invalid):
    """The file had bad rows; nothing was imported. `errors` lists them."""

    title = "Import rejected"

    def __init__(self, report: ImportReport):
        self.report = report
        super().__init__(report.summary(), errors=[e.as_dict() for e in report.errors])


class _Rollback(Exception):
    pass


# --------------------------------------------------------------------------- reading


#: Encodings a person may name for an import (`--encoding`, `?encoding=`).
ENCODINGS = ("utf-8", "cp1251", "latin-1", "cp1252", "koi8-r", "utf-16", "iso-8859-5", "mac-cyrillic")
#: What detection chooses among (charset-normalizer's names), preferred in this order on a tie,
#: with the alphabet each reads: bytes that read equally well as Latin and as Cyrillic are not guessed.
_DETECTED = {"cp1251": "cyrillic", "cp1252": "latin", "latin_1": "latin", "koi8_r": "cyrillic",
             "iso8859_5": "cyrillic", "mac_cyrillic": "cyrillic", "utf_16": "unicode"}


def decode(data: bytes | str, encoding: str | None = None) -> str:
    """UTF-8 (with or without BOM); otherwise the encoding the user named, or
    the one of ENCODINGS charset-normalizer finds most likely (Windows-1251 and
    Latin-1 spreadsheets are both common here). Detection is limited to those:
    among every code page a short Latin-1 file reads as Big5 or Windows-1250.
    When the best readings tie between a Latin and a Cyrillic encoding (a few
    accented letters), the import is refused naming `encoding` rather than
    guessed."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    if encoding:
        try:
            return data.decode(encoding).lstrip("\ufeff")
        except (UnicodeDecodeError, LookupError) as exc:
            raise Invalid(f"the file is not valid {encoding}: {exc}", field="encoding") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    matches = list(charset_normalizer.from_bytes(data[:200_000], cp_isolation=list(_DETECTED)))
    if matches:
        best = matches[0]
        tied = [m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)
                and m.encoding in _DETECTED]
        if len({_DETECTED[e] for e in tied}) > 1:
            raise Invalid(f"the file reads equally well as {' and as '.join(sorted(set(tied)))}: name its encoding "
                          f"({', '.join(ENCODINGS)})", field="encoding")
        for chosen in sorted(tied, key=list(_DETECTED).index) or [best.encoding]:
            try:
                return data.decode(chosen)
            except (UnicodeDecodeError, LookupError):
                pass
    raise Invalid("the file's encoding could not be recognised: save it as UTF-8, or name the encoding "
                  f"({', '.join(ENCODINGS)})", field="encoding")


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """Spreadsheet CSV with the delimiter the header uses. Only the delimiter is
    sniffed: the header rarely holds quotes, and a sniffed dialect then reads
    a quoted `""` in a later cell as two characters."""
    head = text[:4096].split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(head, delimiters=",;\t").delimiter
    except csv.Error:
        return csv.excel

    class Sniffed(csv.excel):
        pass

    Sniffed.delimiter = delimiter
    return Sniffed


def _header_name(cell: str) -> str:
    return cell.strip().lower().replace(" ", "_").replace("-", "_")


@dataclass
class ParsedRow:
    row: int
    cells: dict[str, str]


@dataclass
class Parsed:
    columns: list[str]
    rows: list[ParsedRow]
    errors: list[RowError]


def _cells(reader) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(row number, cells, problem): a row the csv module cannot read (a cell
    beyond MAX_CELL, a stray quote) is a problem of that row, not the end of the file."""
    number = 0
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield number, None, f"unreadable row: {exc}"
            continue
        yield number, cells, None


def parse(spec: KindSpec, data: bytes | str, encoding: str | None = None) -> Parsed:
    """Read the CSV into {column: cell} per row; header problems are errors on row 1."""
    text = decode(data, encoding)
    csv.field_size_limit(MAX_CELL + 1)
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    errors: list[RowError] = []
    header: list[str] | None = None
    rows: list[ParsedRow] = []
    for number, cells, problem in _cells(reader):
        if problem is not None or cells is None:
            errors.append(RowError(number, None, problem or "unreadable row"))
            continue
        bad = [(i, c) for i, c in enumerate(cells) if validation.control_character(c) is not None or len(c) > MAX_CELL]
        if bad:
            names = header or []
            for i, c in bad:
                errors.append(RowError(number, names[i] if i < len(names) else None,
                                       "contains a control character" if len(c) <= MAX_CELL
                                       else f"longer than {MAX_CELL} characters"))
            if header is not None:
                continue
        if header is None:
            header = [_header_name(c) for c in cells]
            seen: set[str] = set()
            for name in header:
                if name in seen:
                    errors.append(RowError(1, name, "column appears twice"))
                seen.add(name)
                if name and name != "id" and spec.column(name) is None:
                    allowed = ", ".join(c.name for c in spec.columns)
                    errors.append(RowError(1, name, f"unknown column for {spec.kind}; columns: {allowed}"))
            for alternatives in spec.required:
                if not any(a in seen for a in alternatives):
                    errors.append(RowError(1, alternatives[0], "required column is missing"
                                           + (f" (or {', '.join(alternatives[1:])})" if len(alternatives) > 1 else "")))
            continue
        if not any(c.strip() for c in cells):
            continue  # blank line: counted, so row numbers match the file
        if len(cells) > len(header):
            extra = cells[len(header):]
            if any(c.strip() for c in extra):
                errors.append(RowError(number, None, f"{len(cells)} cells but the header has {len(header)} columns"))
                continue
        row = {name: unquoted(cells[i].strip()) for i, name in enumerate(header)
               if i < len(cells) and name and name != "id"}
        rows.append(ParsedRow(number, row))
    if header is None:
        errors.append(RowError(1, None, "the file is empty: the first row must name the columns"))
    return Parsed(header or [], rows, errors)


# --------------------------------------------------------------------------- references


class References:
    """Natural key -> id, cached for the duration of one import."""

    def __init__(self) -> None:
        self._cache: dict[tuple, int | None] = {}

    async def _one(self, key: tuple, query) -> int | None:
        if key not in self._cache:
            rows = await query
            self._cache[key] = rows[0]["id"] if len(rows) == 1 else (-len(rows) if rows else None)
        return self._cache[key]

    async def _key_or_name(self, what: str, table, key_column, key: str | None, value: str, key_label: str,
                           hint: str) -> int:
        """A unique key first (site code, asset serial), then the name, which may be ambiguous."""
        found = None
        if key:
            found = await self._one((what, key_label, key), table.select(table.id).where(key_column == key).limit(2))
        if found is None or found < 0:
            name = normalise.text(value)
            found = await self._one((what, "name", name), table.select(table.id).where(table.name_norm == name).limit(2))
        if found is None:
            raise Invalid(f"no {what} with {key_label} or name {value!r}")
        if found < 0:
            raise Invalid(f"several {what}s are named {value!r}; {hint}")
        return found

    async def site(self, value: str) -> int:
        return await self._key_or_name("site", Site, Site.code, normalise.code(value), value, "code", "give the site's code")

    async def client(self, value: str) -> int:
        found = await self._one(("client", normalise.code(value)),
                                Client.select(Client.id).where(Client.code == normalise.code(value)).limit(2))
        if found is None or found < 0:
            raise Invalid(f"no client with code {value!r}")
        return found

    async def rack(self, value: str, site_id: int | str | None) -> int:
        if isinstance(site_id, str):
            site_id = validation.optional_ident(site_id, "site_id")
        if site_id is None:
            raise Invalid("a rack given by name needs the row's site (site or site_id)")
        found = await self._one(
            ("rack", site_id, normalise.text(value)),
            Rack.select(Rack.id).where((Rack.site == site_id) & (Rack.name_norm == normalise.text(value))).limit(2),
        )
        if found is None or found < 0:
            raise Invalid(f"no rack named {value!r} at this site")
        return found

    async def asset(self, value: str) -> int:
        return await self._key_or_name("asset", Asset, Asset.serial_norm, normalise.serial(value), value, "serial",
                                       "give its serial or asset_id")


async def row_data(spec: KindSpec, row: ParsedRow, refs: References) -> tuple[dict, dict[str, str], list[RowError]]:
    """Cells -> the API's fields. Returns (data, field -> CSV column, errors).

    Cells go to the service as text: it parses and checks them exactly as it
    does JSON from the API. Only natural keys are resolved here (to ids).
    An empty cell is "not given": the service's default applies.
    """
    data: dict = {}
    columns: dict[str, str] = {}
    errors: list[RowError] = []
    natural: list[Column] = []
    for name, value in row.cells.items():
        column = spec.column(name)
        if column is None or value == "":
            continue
        if column.natural:
            natural.append(column)
            continue
        data[column.target] = _items(value) if column.many else value
        columns[column.target] = name
    # The site first: a rack name is looked up at the row's site.
    natural.sort(key=lambda c: c.name != "site")
    for column in natural:
        value = row.cells[column.name]
        if column.target in data:
            errors.append(RowError(row.row, column.name, f"give either {column.name} or {column.target}, not both"))
            continue
        what = NAMES[column.name]
        if what == "rack":
            lookup = functools.partial(refs.rack, site_id=data.get("site_id"))
        else:
            lookup = getattr(refs, what)
        try:
            found = [await lookup(v) for v in _items(value)] if column.many else await lookup(value)
        except DomainError as exc:
            errors.append(RowError(row.row, column.name, exc.detail))
            continue
        data[column.target] = found
        columns[column.target] = column.name
    return data, columns, errors


def _items(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(LIST_SEPARATOR) if item.strip()]


def _errors_of(exc: DomainError, number: int, columns: dict[str, str]) -> list[RowError]:
    items = exc.errors or [{"field": exc.field, "message": exc.detail}]
    out: dict[str | None, RowError] = {}
    for item in items:
        name = item.get("field")
        column = columns.get(name, name) if name else None
        # one problem per cell: the first is the cause ("must be one of ..."), not its echo ("is required")
        out.setdefault(column, RowError(number, column, item.get("message") or exc.detail))
    return list(out.values())


def _other_problems(spec: KindSpec, values: dict, columns: dict[str, str], errors: list[RowError],
                    number: int) -> list[RowError]:
    """The row's other bad cells, when a reference already failed: the service's
    field checks (no database) name them too, so one pass lists every bad cell."""
    failed = {spec.column(e.column).target for e in errors if e.column and spec.column(e.column)}
    try:
        spec.service.parse(values, partial=False)
    except DomainError as exc:
        seen = {e.column for e in errors}
        return [e for e in _errors_of(exc, number, columns)
                if e.column not in seen and e.column not in failed]
    return []


# --------------------------------------------------------------------------- import

#: An import on SQLite commits after this many rows, after CHUNK_SECONDS holding the write
#: lock, or as soon as another writer queues for it, whichever comes first.
CHUNK_ROWS = 200
CHUNK_SECONDS = 0.05


async def _import_chunk(spec: KindSpec, rows: list[ParsedRow], start: int, chunked: bool, viewer: Viewer,
                        refs: References, report: ImportReport, keep: bool,
                        row_done: Callable[[], None], run: int | None = None) -> tuple[list[int], int]:
    """Create rows from `start` on in one transaction (joining a caller's):
    all of them, or when `chunked` until the chunk's bounds; committed when
    `keep` (unchunked: only while the file is still clean). Returns (the ids it kept,
    where the next chunk starts)."""
    engine = current_engine()
    ids: list[int] = []
    end = start
    try:
        async with atomic(engine):
            transaction = engine.current_transaction.get()
            outer = await transaction.savepoint()  # also when joining a caller's transaction
            began = time.monotonic()
            while end < len(rows):
                await _import_row(spec, rows[end], viewer, refs, report, transaction, ids)
                end += 1
                row_done()
                if chunked and (end - start >= CHUNK_ROWS or writers_waiting()
                                or time.monotonic() - began >= CHUNK_SECONDS):
                    break
            if not keep or (report.errors and not chunked):
                # Undo this chunk; when this joined a caller's transaction, only ours. A chunk
                # of a file already found bad still commits its good rows, so the rows after
                # it are checked against them (a duplicate serial is still found); all of it
                # is deleted when the file ends.
                await outer.rollback_to()
                raise _Rollback
            if run is not None:
                # Committed with the chunk: what to undo should this process die mid-import.
                if ids:
                    await ImportRunRow.insert(*(ImportRunRow(run=run, row_id=i) for i in ids))
                await ImportRun.update({ImportRun.heartbeat_at: _utcnow()}).where(ImportRun.id == run)
            await outer.release()
    except _Rollback:
        return [], end
    return ids, end


async def _import_row(spec: KindSpec, row: ParsedRow, viewer: Viewer, refs: References, report: ImportReport,
                      transaction, ids: list[int]) -> None:
    """One row through the service, under a savepoint: a refused row leaves nothing behind."""
    values, columns, errors = await row_data(spec, row, refs)
    if errors:
        report.errors.extend(errors)
        report.errors.extend(_other_problems(spec, values, columns, errors, row.row))
        return
    point = await transaction.savepoint()
    try:
        made = await spec.service.create(viewer, values)
    except DomainError as exc:
        await point.rollback_to()
        report.errors.extend(_errors_of(exc, row.row, columns))
    except INTEGRITY_ERRORS as exc:
        await point.rollback_to()
        report.errors.append(RowError(row.row, None, f"conflicts with existing data: {exc}"))
    else:
        await point.release()
        report.created += 1
        ids.append(made["id"])


async def _undo(spec: KindSpec, ids: list[int]) -> None:
    """Delete what earlier chunks of a rejected import committed, newest first,
    in chunks too (rows they made for themselves — rack units, a service's
    assets — go with them by their foreign keys)."""
    table = spec.table
    for end in range(len(ids), 0, -CHUNK_ROWS):
        async with atomic():
            await table.delete().where(table.id.is_in(ids[max(0, end - CHUNK_ROWS):end]))

#: A running import's heartbeat moves with every chunk (well under a second apart);
#: one this old belongs to a process that died.
INTERRUPTED_AFTER = dt.timedelta(seconds=60)

log = logging.getLogger("rackcard.cmdb")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


async def _start_run(spec: KindSpec, started_by: str = "") -> int:
    now = _utcnow()
    row = await ImportRun.insert(ImportRun(kind=spec.kind, status="running", started_at=now, heartbeat_at=now,
                                           started_by=started_by))
    return row[0]["id"]


async def _end_run(run: int | None, keep: bool = False, status: str = "done", **fields) -> None:
    """The run is over: its journal goes; the run itself too, unless it is kept
    for whoever follows it (a background import)."""
    if run is None:
        return
    if not keep:
        await ImportRun.delete().where(ImportRun.id == run)  # its rows go with it (cascade)
        return
    await ImportRunRow.delete().where(ImportRunRow.run == run)
    await ImportRun.update({ImportRun.status: status, ImportRun.finished_at: _utcnow(),
                            **{getattr(ImportRun, k): v for k, v in fields.items()}}).where(ImportRun.id == run)


async def undo_interrupted(now: dt.datetime | None = None) -> int:
    """Undo the imports whose process died mid-run (a chunked import commits as it
    goes): what their chunks made is deleted, as a failed import deletes it, and
    the run is marked `undone`. Returns how many runs were undone. Run at start
    and by the timers."""
    stale = (now or _utcnow()) - INTERRUPTED_AFTER
    undone = 0
    for run in await ImportRun.select().where((ImportRun.status == "running") & (ImportRun.heartbeat_at < stale)):
        ids = [r["row_id"] for r in await ImportRunRow.select(ImportRunRow.row_id)
               .where(ImportRunRow.run == run["id"]).order_by(ImportRunRow.id)]
        await _undo(spec_for(run["kind"]), ids)
        await _end_run(run["id"], keep=True, status="undone")
        log.warning("an import of %s started %s was interrupted: the %d rows it had committed are removed",
                    run["kind"], run["started_at"], len(ids))
        undone += 1
    return undone


#: Background imports of this process (a reference keeps each task alive).
_background: set[asyncio.Task] = set()
#: How often a background import writes its progress (and heartbeat).
PROGRESS_EVERY_S = 1.0


async def start_background(kind: str, data: bytes | str, viewer: Viewer, *, dry_run: bool = False,
                           encoding: str | None = None) -> dict:
    """Start an import in the background; its progress and report are read with
    import_status (GET /api/v1/imports/{id}). Same rules as import_csv."""
    spec = spec_for(kind)
    if not viewer.is_admin:
        raise Forbidden("importing is for administrators")
    run = await _start_run(spec, viewer.email)
    task = asyncio.create_task(_run_in_background(run, kind, data, viewer, dry_run, encoding), name=f"import-{run}")
    _background.add(task)
    task.add_done_callback(_background.discard)
    return await import_status(viewer, run)


async def _run_in_background(run: int, kind: str, data: bytes | str, viewer: Viewer, dry_run: bool,
                             encoding: str | None) -> None:
    state = {"done": 0, "rows": 0}

    def progress(done: int, rows: int) -> None:
        state.update(done=done, rows=rows)

    finished = asyncio.Event()

    async def write_progress() -> None:
        while not finished.is_set():
            try:
                await asyncio.wait_for(finished.wait(), PROGRESS_EVERY_S)
            except asyncio.TimeoutError:
                try:
                    await ImportRun.update({ImportRun.done: state["done"], ImportRun.rows: state["rows"],
                                            ImportRun.heartbeat_at: _utcnow()}).where(ImportRun.id == run)
                except Exception:  # noqa: BLE001 - a busy database skips one beat; the import goes on
                    log.warning("import %s: its progress could not be written this time", run, exc_info=True)

    # The writer is stopped, not cancelled: a cancelled update may still commit
    # in its database thread after the final one and set `done` back.
    writer = asyncio.create_task(write_progress())
    try:
        report = await import_csv(kind, data, viewer, dry_run=dry_run, encoding=encoding, progress=progress, run=run)
        status, body = "done", report.as_dict()
    except ImportRejected as exc:
        status, body = "rejected", exc.report.as_dict()
    except Exception as exc:  # noqa: BLE001 - the run says what went wrong, the server goes on
        log.exception("background import %s of %s failed", run, kind)
        status, body = "failed", {"kind": kind, "message": str(exc)}
    finally:
        finished.set()
        await writer
    rows = body.get("rows", state["rows"])
    await _end_run(run, keep=True, status=status, report=json.dumps(body, default=str), rows=rows,
                   done=rows if status in ("done", "rejected") else state["done"])  # every row was gone through


async def import_status(viewer: Viewer, run: int) -> dict:
    """A background import: status (running | done | rejected | failed | undone),
    rows and rows done so far, and when finished its report."""
    if not viewer.is_admin:
        raise Forbidden("imports are for administrators")
    row = await ImportRun.select().where(ImportRun.id == run).first()
    if row is None:
        raise NotFound(f"no import {run}", field="id")
    return {"id": row["id"], "kind": row["kind"], "status": row["status"], "rows": row["rows"], "done": row["done"],
            "started_by": row["started_by"], "started_at": row["started_at"], "heartbeat_at": row["heartbeat_at"],
            "finished_at": row["finished_at"], "report": json.loads(row["report"]) if row["report"] else None}


Progress = Callable[[int, int], None]


async def import_csv(
    kind: str,
    data: bytes | str,
    viewer: Viewer,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    encoding: str | None = None,
    run: int | None = None,
) -> ImportReport:
    """Import one file of `kind`, all or nothing. Returns the report; raises
    ImportRejected (422, listing every bad row) when any row is bad. `run`: the
    ImportRun of a background import (it keeps the journal of a chunked one)."""
    spec = spec_for(kind)
    if not viewer.is_admin:
        raise Forbidden("importing is for administrators")
    # Decoding and reading the cells is CPU work over the whole file: a thread
    # keeps the event loop (the writers beside the import) turning meanwhile.
    parsed = await asyncio.to_thread(parse, spec, data, encoding)
    report = ImportReport(kind=kind, rows=len(parsed.rows), errors=list(parsed.errors), dry_run=dry_run)
    if any(e.row == 1 for e in parsed.errors):
        raise ImportRejected(report)  # the header is wrong: the cells mean nothing yet
    refs = References()
    engine = current_engine()
    # SQLite has one writer at a time: a long import commits in short chunks,
    # handing the lock to any probe batch or API write that queues for it; what
    # it created is deleted again if any row turns out bad. PostgreSQL (row
    # locks) and a caller's own transaction keep the whole file in one transaction.
    chunked = is_sqlite(engine) and engine.current_transaction.get() is None
    created: list[int] = []
    counter = iter(range(1, len(parsed.rows) + 1))

    def row_done() -> None:
        if progress is not None:
            progress(next(counter), len(parsed.rows))

    own_run = run is None and chunked and not dry_run
    if own_run:
        run = await _start_run(spec, viewer.email)
    journal = run if chunked and not dry_run else None
    start = 0
    try:
        while start < len(parsed.rows):
            made, start = await _import_chunk(spec, parsed.rows, start, chunked, viewer, refs, report,
                                              keep=not dry_run, row_done=row_done, run=journal)
            created.extend(made)
            await asyncio.sleep(0)  # the writer handed the lock runs before the next chunk queues
    except BaseException:
        # A failure mid-import (or the request cancelled): nothing of it stays. If
        # even the undo fails, the run's journal has it undone later.
        if created:
            await _undo(spec, created)
        if own_run:
            await _end_run(run)
        raise
    if report.errors and created:
        await _undo(spec, created)
    elif not report.errors and not dry_run:
        from accounts.services import audit

        async with atomic(engine):
            await audit(viewer, "import", spec.kind, None, {"rows": report.rows})
    if own_run:
        await _end_run(run)
    report.errors.sort(key=lambda e: e.row)
    if report.errors:
        report.created = 0
        raise ImportRejected(report)
    if dry_run:
        report.created = 0
    return report


# --------------------------------------------------------------------------- export


class _Labels:
    """id -> natural key for the references in an export, fetched in batches."""

    QUERIES = {
        "site": (Site, (Site.code,), lambda r: r["code"]),
        "client": (Client, (Client.code,), lambda r: r["code"]),
        "rack": (Rack, (Rack.name,), lambda r: r["name"]),
        "asset": (Asset, (Asset.name, Asset.serial), lambda r: r["serial"] or r["name"]),
    }

    def __init__(self) -> None:
        self.cache: dict[str, dict[int, str]] = {name: {} for name in self.QUERIES}

    async def fill(self, name: str, ids: Iterable[int | None]) -> None:
        kind = NAMES[name]
        table, columns, label = self.QUERIES[kind]
        cache = self.cache[kind]
        missing = sorted({i for i in ids if i is not None and i not in cache})
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            for found in await table.select(table.id, *columns).where(table.id.is_in(chunk)):
                cache[found["id"]] = label(found)

    def label(self, name: str, value: int | None) -> str:
        return "" if value is None else self.cache[NAMES[name]][value]


def _cell(value) -> str:
    return "" if value is None else str(value)


async def export_rows(kind: str, viewer: Viewer, batch: int = 1000, filters: dict[str, str] | None = None
                      ) -> AsyncIterator[list[str]]:
    """The header, then every row of `kind` (matching the list `filters`, as
    the API's ?client_id= ...) in id order, as lists of cells."""
    spec = spec_for(kind)
    if not viewer.is_staff:
        raise Forbidden("exporting is for staff")
    where = spec.service.where_for(viewer, dict(filters or {}))
    header = export_columns(kind, viewer)
    # Every export is audited: who took which list, with which columns (secrets or not).
    await audit(viewer, "export", kind, None, {"columns": header})
    yield header
    fields = {NATURAL_KEYS.get(f.name, f.name) if f.ref is not None else f.name: f for f in spec.fields}
    # (column, field, written as a natural key?)
    plan = [(name, fields.get(name), name in fields and name != fields[name].name) for name in header]
    lists = [f for _, f, _ in plan if f is not None and f.type == "ids"]
    table = spec.table
    labels = _Labels()
    last_id = 0
    while True:
        rows = await table.select().where(table.id > last_id, *where).order_by(table.id).limit(batch)
        if not rows:
            break
        last_id = rows[-1]["id"]
        if lists:  # computed by the service as for the API (a service's asset_ids)
            computed = [{"id": r["id"]} for r in rows]
            await spec.service.r.expand(computed, viewer)
            for row, extra in zip(rows, computed):
                row.update({f.name: extra.get(f.name) or [] for f in lists})
        for name, f, natural in plan:
            if natural:
                ids = (i for r in rows for i in r[f.name]) if f.type == "ids" else (r[f.column] for r in rows)
                await labels.fill(name, ids)
        for row in rows:
            out = []
            for name, f, natural in plan:
                if f is None:
                    out.append(_cell(row[name]))
                elif f.type == "ids":
                    items = (labels.label(name, i) if natural else str(i) for i in row[f.name])
                    out.append(LIST_SEPARATOR.join(items))
                elif natural:
                    out.append(labels.label(name, row[f.column]))
                else:
                    out.append(_cell(row[f.column]))
            yield out


class _Line:
    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def __call__(self, cells: list[str]) -> str:
        self.writer.writerow([inert(c) for c in cells])
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


async def export_csv(kind: str, viewer: Viewer, filters: dict[str, str] | None = None) -> AsyncIterator[str]:
    """CSV text in chunks (a few hundred rows each), for streaming responses and files."""
    line = _Line()
    chunk: list[str] = []
    async for cells in export_rows(kind, viewer, filters=filters):
        chunk.append(line(cells))
        if len(chunk) >= 500:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


async def export_text(kind: str, viewer: Viewer) -> str:
    return "".join([part async for part in export_csv(kind, viewer)])
