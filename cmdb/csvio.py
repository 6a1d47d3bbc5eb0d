"""CSV import and export of the inventory lists.

Import is all-or-nothing per file: every row goes through the same service
functions as the REST API (cmdb.services), inside one transaction; a row that
fails is rolled back to its savepoint so the rest can still be checked, and if
any row failed the whole file is rolled back and the report lists every bad row
(row number as in the file, header = row 1; column; problem).

Columns use the API's field names. References may be given by id (`site_id`,
`client_id`, `rack_id`, `asset_id`) or by natural key:

- `site`   — site code or name
- `client` — client code
- `rack`   — rack name at the row's site
- `asset`  — asset serial, or its name when that is unique

Export writes the natural keys (plus the row's `id`, ignored on import), so an
export imports into an empty database as the same rows: sites, clients, racks,
assets, ip-addresses, in that order.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable, Iterable

from accounts.dbutil import INTEGRITY_ERRORS, atomic, current_engine
from accounts.errors import DomainError, Forbidden, Invalid, NotFound
from accounts.viewer import Viewer
from cmdb import normalise
from cmdb.tables import Asset, Client, IPAddress, Rack, Site

#: Kinds in the order an empty database must import them (references point back).
KINDS = ("sites", "clients", "racks", "assets", "ip-addresses")

#: CSV cells in the specs: "str" (text, empty = not given), "int", "ref:<kind>".
SECRET_COLUMNS = ("snmp_community", "snmp_v3_auth_key", "snmp_v3_priv_key")


@dataclass(frozen=True)
class Column:
    name: str  # CSV header == API field name, or a natural-key reference (site, client ...)
    type: str = "str"  # str | int | ref
    field: str | None = None  # API field a reference fills (site -> site_id)

    @property
    def target(self) -> str:
        return self.field or self.name


def _ref(name: str) -> Column:
    return Column(name, "ref", f"{name}_id")


def _int(name: str) -> Column:
    return Column(name, "int")


_SNMP = [
    Column("snmp_version"),
    Column("snmp_community"),
    _int("snmp_port"),
    Column("snmp_v3_user"),
    Column("snmp_v3_auth_protocol"),
    Column("snmp_v3_auth_key"),
    Column("snmp_v3_priv_protocol"),
    Column("snmp_v3_priv_key"),
    _int("poll_interval_s"),
]


@dataclass(frozen=True)
class KindSpec:
    kind: str
    table: type
    columns: tuple[Column, ...]
    required: tuple[tuple[str, ...], ...]  # each: one of these columns must be present
    create: str  # cmdb.services function: create(viewer, data) -> row

    def column(self, name: str) -> Column | None:
        for column in self.columns:
            if column.name == name:
                return column
        return None


SPECS: dict[str, KindSpec] = {
    "sites": KindSpec(
        "sites",
        Site,
        (Column("code"), Column("name"), Column("kind"), Column("address"), Column("timezone")),
        (("name",), ("kind",)),
        "create_site",
    ),
    "clients": KindSpec(
        "clients",
        Client,
        (
            Column("code"),
            Column("name"),
            Column("contract_number"),
            Column("status"),
            _int("sla_plan_id"),
            Column("timezone"),
            Column("notes"),
        ),
        (("code",), ("name",)),
        "create_client",
    ),
    "racks": KindSpec(
        "racks",
        Rack,
        (_ref("site"), _int("site_id"), Column("name"), _int("height_u"), _ref("client"), _int("client_id")),
        (("site", "site_id"), ("name",)),
        "create_rack",
    ),
    "assets": KindSpec(
        "assets",
        Asset,
        (
            Column("name"),
            Column("kind"),
            Column("manufacturer"),
            Column("model"),
            Column("serial"),
            _ref("site"),
            _int("site_id"),
            _ref("rack"),
            _int("rack_id"),
            _int("position_u"),
            _int("height_u"),
            _ref("client"),
            _int("client_id"),
            Column("mgmt_ip"),
            Column("status"),
            *_SNMP,
            Column("profile"),
            Column("notes"),
        ),
        (("name",), ("kind",), ("site", "site_id")),
        "create_asset",
    ),
    "ip-addresses": KindSpec(
        "ip-addresses",
        IPAddress,
        (
            Column("address"),
            Column("vrf"),
            _ref("client"),
            _int("client_id"),
            _ref("asset"),
            _int("asset_id"),
            Column("description"),
        ),
        (("address",),),
        "create_ip_address",
    ),
}

#: Export columns per kind (natural keys for references, `id` first).
EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    kind: ("id", *(c.name for c in spec.columns if not c.name.endswith("_id") or c.name == "sla_plan_id"))
    for kind, spec in SPECS.items()
}


def spec_for(kind: str) -> KindSpec:
    try:
        return SPECS[kind]
    except KeyError:
        raise NotFound(f"unknown kind {kind!r}; one of: {', '.join(KINDS)}", field="kind") from None


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


def decode(data: bytes | str) -> str:
    """UTF-8 (with or without BOM); Windows-1251, as spreadsheets here often save, as a fallback."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return codecs.decode(data, "cp1251")


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    head = text[:4096].split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t")
    except csv.Error:
        return csv.excel


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


def parse(spec: KindSpec, data: bytes | str) -> Parsed:
    """Read the CSV into {column: cell} per row; header problems are errors on row 1."""
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    errors: list[RowError] = []
    header: list[str] | None = None
    rows: list[ParsedRow] = []
    for number, cells in enumerate(reader, start=1):
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
        row = {name: cells[i].strip() for i, name in enumerate(header) if i < len(cells) and name and name != "id"}
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

    async def site(self, value: str) -> int:
        found = await self._one(("site", "code", normalise.code(value)),
                                Site.select(Site.id).where(Site.code == normalise.code(value)).limit(2))
        if found is None or found < 0:
            found = await self._one(("site", "name", normalise.text(value)),
                                    Site.select(Site.id).where(Site.name_norm == normalise.text(value)).limit(2))
        if found is None:
            raise Invalid(f"no site with code or name {value!r}")
        if found < 0:
            raise Invalid(f"several sites are named {value!r}; give the site's code")
        return found

    async def client(self, value: str) -> int:
        found = await self._one(("client", normalise.code(value)),
                                Client.select(Client.id).where(Client.code == normalise.code(value)).limit(2))
        if found is None or found < 0:
            raise Invalid(f"no client with code {value!r}")
        return found

    async def rack(self, value: str, site_id: int | None) -> int:
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
        serial = normalise.serial(value)
        found = None
        if serial:
            found = await self._one(("asset", "serial", serial),
                                    Asset.select(Asset.id).where(Asset.serial_norm == serial).limit(2))
        if found is None:
            found = await self._one(("asset", "name", normalise.text(value)),
                                    Asset.select(Asset.id).where(Asset.name_norm == normalise.text(value)).limit(2))
        if found is None:
            raise Invalid(f"no asset with serial or name {value!r}")
        if found < 0:
            raise Invalid(f"several assets are named {value!r}; give its serial or asset_id")
        return found


async def row_data(spec: KindSpec, row: ParsedRow, refs: References) -> tuple[dict, dict[str, str], list[RowError]]:
    """Cells -> the API's fields. Returns (data, field -> CSV column, errors).

    Only conversions happen here (text -> int, natural key -> id); every domain
    rule is the service's.
    """
    data: dict = {}
    columns: dict[str, str] = {}
    errors: list[RowError] = []
    pending_refs: list[Column] = []
    for name, value in row.cells.items():
        column = spec.column(name)
        if column is None or value == "":
            continue  # empty cell: not given (the service's default applies)
        if column.type == "ref":
            pending_refs.append(column)
            continue
        if column.type == "int":
            try:
                data[column.target] = int(value)
            except ValueError:
                errors.append(RowError(row.row, name, f"{value!r} is not a whole number"))
                continue
        else:
            data[column.target] = value
        columns[column.target] = name
    # Sites first: a rack name is looked up at the row's site.
    pending_refs.sort(key=lambda c: c.name != "site")
    for column in pending_refs:
        value = row.cells[column.name]
        if column.target in data:
            errors.append(RowError(row.row, column.name, f"give either {column.name} or {column.target}, not both"))
            continue
        try:
            if column.name == "rack":
                found = await refs.rack(value, data.get("site_id"))
            else:
                found = await getattr(refs, column.name)(value)
        except DomainError as exc:
            errors.append(RowError(row.row, column.name, exc.detail))
            continue
        data[column.target] = found
        columns[column.target] = column.name
    return data, columns, errors


def _errors_of(exc: DomainError, number: int, columns: dict[str, str]) -> list[RowError]:
    items = exc.errors or [{"field": exc.field, "message": exc.detail}]
    out = []
    for item in items:
        name = item.get("field")
        out.append(RowError(number, columns.get(name, name) if name else None, item.get("message") or exc.detail))
    return out


# --------------------------------------------------------------------------- import

Progress = Callable[[int, int], None]


def _service(spec: KindSpec) -> Callable[[Viewer, dict], Awaitable[object]]:
    from cmdb import services

    return getattr(services, spec.create)


async def import_csv(
    kind: str,
    data: bytes | str,
    viewer: Viewer,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import one file of `kind`, all or nothing. Returns the report; raises
    ImportRejected (422, listing every bad row) when any row is bad."""
    spec = spec_for(kind)
    if not viewer.is_admin:
        raise Forbidden("importing is for administrators")
    parsed = parse(spec, data)
    report = ImportReport(kind=kind, rows=len(parsed.rows), errors=list(parsed.errors), dry_run=dry_run)
    if any(e.row == 1 for e in parsed.errors):
        raise ImportRejected(report)  # the header is wrong: the cells mean nothing yet
    create = _service(spec)
    refs = References()
    total = len(parsed.rows)
    engine = current_engine()
    try:
        async with atomic(engine):
            transaction = engine.current_transaction.get()
            outer = await transaction.savepoint()  # also when joining a caller's transaction
            for done, row in enumerate(parsed.rows, start=1):
                values, columns, errors = await row_data(spec, row, refs)
                if errors:
                    report.errors.extend(errors)
                else:
                    point = await transaction.savepoint()
                    try:
                        await create(viewer, values)
                    except DomainError as exc:
                        await point.rollback_to()
                        report.errors.extend(_errors_of(exc, row.row, columns))
                    except INTEGRITY_ERRORS as exc:
                        await point.rollback_to()
                        report.errors.append(RowError(row.row, None, f"conflicts with existing data: {exc}"))
                    else:
                        await point.release()
                        report.created += 1
                if progress is not None:
                    progress(done, total)
            if report.errors or dry_run:
                # Undo every row; when this joined a caller's transaction, only ours.
                await outer.rollback_to()
                raise _Rollback
            await outer.release()
            from accounts.services import audit

            await audit(viewer, "import", spec.kind, None, {"rows": report.rows})
    except _Rollback:
        pass
    report.errors.sort(key=lambda e: e.row)
    if report.errors:
        report.created = 0
        raise ImportRejected(report)
    if dry_run:
        report.created = 0
    return report


# --------------------------------------------------------------------------- export


class _Labels:
    """id -> natural key for references in an export, fetched in batches."""

    def __init__(self) -> None:
        self.sites: dict[int, str] = {}
        self.clients: dict[int, str] = {}
        self.racks: dict[int, str] = {}
        self.assets: dict[int, str] = {}

    async def fill(self, rows: list[dict]) -> None:
        async def load(cache: dict, ids: Iterable, table, label) -> None:
            missing = sorted({i for i in ids if i is not None and i not in cache})
            for start in range(0, len(missing), 500):
                chunk = missing[start:start + 500]
                for found in await table.select(table.id, *label).where(table.id.is_in(chunk)):
                    cache[found["id"]] = found
        await load(self.sites, (r.get("site") for r in rows), Site, [Site.code])
        await load(self.clients, (r.get("client") for r in rows), Client, [Client.code])
        await load(self.racks, (r.get("rack") for r in rows), Rack, [Rack.name])
        await load(self.assets, (r.get("asset") for r in rows), Asset, [Asset.name, Asset.serial])

    def label(self, column: str, value: int | None) -> str:
        if value is None:
            return ""
        if column == "site":
            return self.sites[value]["code"]
        if column == "client":
            return self.clients[value]["code"]
        if column == "rack":
            return self.racks[value]["name"]
        if column == "asset":
            asset = self.assets[value]
            return asset["serial"] or asset["name"]
        raise KeyError(column)


def export_columns(kind: str, viewer: Viewer) -> list[str]:
    columns = list(EXPORT_COLUMNS[spec_for(kind).kind])
    if not viewer.sees_secrets:
        columns = [c for c in columns if c not in SECRET_COLUMNS]
    return columns


def _cell(value) -> str:
    if value is None:
        return ""
    return str(value)


async def export_rows(kind: str, viewer: Viewer, batch: int = 1000) -> AsyncIterator[list[str]]:
    """The header, then every row of `kind` in id order, as lists of cells."""
    spec = spec_for(kind)
    if not viewer.is_staff:
        raise Forbidden("exporting is for staff")
    columns = export_columns(kind, viewer)
    yield columns
    table = spec.table
    labels = _Labels()
    last_id = 0
    while True:
        rows = await table.select().where(table.id > last_id).order_by(table.id).limit(batch)
        if not rows:
            break
        last_id = rows[-1]["id"]
        await labels.fill(rows)
        for row in rows:
            out = []
            for name in columns:
                if name in ("site", "client", "rack", "asset"):
                    out.append(labels.label(name, row.get(name)))
                else:
                    out.append(_cell(row.get(name)))
            yield out


class _Line:
    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def __call__(self, cells: list[str]) -> str:
        self.writer.writerow(cells)
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


async def export_csv(kind: str, viewer: Viewer) -> AsyncIterator[str]:
    """CSV text in chunks (a few hundred rows each), for streaming responses and files."""
    line = _Line()
    chunk: list[str] = []
    async for cells in export_rows(kind, viewer):
        chunk.append(line(cells))
        if len(chunk) >= 500:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


async def export_text(kind: str, viewer: Viewer) -> str:
    return "".join([part async for part in export_csv(kind, viewer)])
