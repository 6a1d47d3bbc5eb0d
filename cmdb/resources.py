"""Declaration-driven CRUD: one `Resource` per table says its fields, types,
validators, uniqueness rules, filters and domain hooks; `ResourceService`
turns that into validated create/update/delete/get/list functions that take
the `Viewer`, write an audit row in the same transaction and leave nothing
behind when they refuse. The REST layer (cmdb/api.py) builds its routes from
the same declarations, so a new table is a few declarations, not new code.

Rules are checked in the domain first (for a clear message naming the field
and, for conflicts, the row in the way) and enforced again by the database's
unique indexes (for races). When the database refuses, the transaction is
rolled back and the checks run again to name what is in the way.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import operator
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable

from piccolo.columns.base import OnDelete
from piccolo.columns.combination import WhereRaw
from piccolo.table import Table

from database.rawsql import gather_reads
from database.transactions import INTEGRITY_ERRORS, atomic, current_engine, is_sqlite, is_unique_violation, reading  # noqa: F401 (reading: re-exported)
from accounts.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from accounts import secretbox
from accounts.services import audit
from accounts.tables import User
from accounts.viewer import Viewer
import validation
from cmdb import normalise
from validation import columns
from cmdb.tables import Client

MISSING: Any = object()
log = logging.getLogger("rackcard.cmdb.resources")


# --------------------------------------------------------------------------- fields


@dataclass
class Field:
    """One API field. `columns` maps the cleaned value to the table columns it
    fills (itself, plus normalised copies such as `name_norm`)."""

    name: str
    type: str = "str"  # str | int | bool | ids (list of ints)
    required: bool = False
    nullable: bool = False
    default: Any = MISSING  # on create when absent; MISSING = the table's default
    choices: tuple[str, ...] | None = None
    max_length: int | None = None
    min: int | None = None
    max: int | None = None
    ref: type[Table] | None = None  # the value must be the id of a row of this table
    ref_label: str = ""  # "site" in "no site 99"
    secret: bool = False  # write-only: sealed at rest (accounts.secretbox); the API shows `<name>_set` only
    admin_only: bool = False  # only administrators may set or change it (403 naming the field)
    internal: bool = False  # staff only
    stored: bool = True  # False: kept out of the table (a hook stores it)
    column: str = ""  # defaults to the name (without `_id` for references)
    clean: Callable[[Any], Any] | None = None  # raise ValueError with a message to reject
    columns: Callable[[Any], dict] | None = None  # value -> {column: value}; default {column: value}
    filter: bool = False  # offer ?name= on lists (automatic for references and choices)

    def default_value(self, table: type[Table]) -> Any:
        """The value a new row gets when the field is left out."""
        if self.default is not MISSING:
            return self.default
        column = {c._meta.name: c for c in table._meta.columns}.get(self.column)
        return column.get_default_value() if column is not None else None

    def __post_init__(self) -> None:
        if not self.column:
            self.column = self.name[:-3] if self.ref is not None and self.name.endswith("_id") else self.name
        if self.ref is not None and not self.ref_label:
            self.ref_label = self.name[:-3] if self.name.endswith("_id") else self.name
        if self.ref is not None or self.choices:
            self.filter = True

    def to_columns(self, value: Any) -> dict:
        if not self.stored:
            return {}
        if self.secret:
            value = secretbox.seal(value)
        return self.columns(value) if self.columns else {self.column: value}

    multiline: bool = False  # text that may hold line breaks (notes, addresses, descriptions)

    def parse(self, raw: Any) -> Any:
        """Type, range, size and choice checks (validation's, shared with every
        other input path); raises Invalid naming the field."""
        if raw is None or (raw == "" and self.nullable and self.type != "str"):
            if self.nullable:
                return None
            if self.required:
                raise Invalid(f"{self.name} is required", field=self.name)
            raise Invalid(f"{self.name} cannot be null (leave it out for the default)", field=self.name)
        if self.type == "int":
            if self.ref is not None:
                value = validation.ident(raw, self.name)
            else:
                value = validation.integer(raw, self.name, min=validation.INT_MIN if self.min is None else self.min,
                                           max=validation.INT_MAX if self.max is None else self.max)
        elif self.type == "bool":
            value = _as_bool(raw, self.name)
        elif self.type == "ids":
            if not isinstance(raw, (list, tuple)):
                raise Invalid(f"{self.name} must be a list of ids", field=self.name)
            problems = validation.Problems()
            value = sorted({v for v in (problems.take(validation.ident, v, self.name) for v in raw) if v is not None})
            problems.raise_if_any()
        elif self.secret and secretbox.is_sealed(raw):
            # An administrator's export carries secrets sealed; they import back as they are
            # when this installation's key opens them.
            try:
                secretbox.open(raw)
            except (secretbox.SecretError, ValueError):
                raise Invalid(f"{self.name}: a sealed value this server's key does not open", field=self.name) from None
            return raw
        else:
            value = validation.text(raw, self.name, max_length=self.max_length, multiline=self.multiline)
            if value == "" and self.nullable:
                return None
            if value == "" and self.required:
                raise Invalid(f"{self.name} must not be empty", field=self.name)
        if self.choices is not None and value not in self.choices:
            raise Invalid(f"{self.name} must be one of: {', '.join(self.choices)} (got {value!r})", field=self.name)
        if self.clean is not None:
            try:
                value = self.clean(value)
            except DomainError:
                raise
            except ValueError as exc:
                raise Invalid(f"{self.name}: {exc}", field=self.name) from None
        return value


def _as_int(raw: Any, name: str) -> int:
    return validation.integer(raw, name)


_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def _as_bool(raw: Any, name: str) -> bool:
    """JSON true/false, or the words a CSV cell carries (true/false, yes/no, 1/0)."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if isinstance(raw, (str, int)) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Invalid(f"{name} must be true or false (got {raw!r})", field=name)


def Ref(name: str, table: type[Table], **kw) -> Field:
    return Field(name, **{"type": "int", **kw}, ref=table)


def Choice(name: str, choices: Iterable[str], **kw) -> Field:
    return Field(name, choices=tuple(choices), **kw)


def Normed(name: str, norm: Callable[[str], Any], norm_column: str = "", **kw) -> Field:
    """Text stored with a normalised copy for search/uniqueness (`<name>_norm`)."""
    target = norm_column or f"{name}_norm"
    return Field(name, columns=lambda v: {name: v, target: norm(v) if v is not None else None}, **kw)


# --------------------------------------------------------------------------- resources


@dataclass
class Unique:
    """A uniqueness rule, also a database index: `columns` must not repeat
    (skipped when `when(values)` is false). `field` names the API field to blame."""

    columns: tuple[str, ...]
    field: str
    what: str  # "code", "e-mail", "serial"
    when: Callable[[dict], bool] | None = None


@dataclass
class Ctx:
    """What a hook sees: who, the row before (None on create), the row after, and what changed."""

    viewer: Viewer
    resource: "Resource"
    before: dict | None
    after: dict
    changed: set[str]
    data: dict  # the parsed API input (field name -> value), including non-stored fields
    id: int | None = None

    def touched(self, *columns: str) -> bool:
        return self.before is None or bool(self.changed.intersection(columns))


Hook = Callable[[Ctx], Awaitable[None]]


@dataclass
class Resource:
    name: str  # singular, for messages and the audit log ("asset")
    path: str  # URL segment ("assets")
    table: type[Table]
    fields: list[Field]
    label: str = "name"  # column that names a row in messages
    unique: list[Unique] = field(default_factory=list)
    q_columns: tuple[str, ...] = ()  # ?q= substring match on these (normalised) columns
    q_norm: Callable[[str], str] = normalise.text  # how ?q= is normalised before matching
    extra_filters: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (column, type)
    client_scope: str | None = "client"  # column tying a row to a client (tenant scoping); None = not scoped
    prepare: Callable[[dict, dict | None], None] | None = None  # pure: fill derived values (after, before)
    check: Hook | None = None  # domain checks needing the database (inside the transaction)
    after_write: Hook | None = None  # write dependent rows (inside the transaction)
    expand: Callable[[list[dict], Viewer], Awaitable[None]] | None = None  # add computed output fields
    lock: Callable[[], Awaitable[None]] | None = None  # serialise writers (PostgreSQL advisory lock)
    output: tuple[str, ...] = ()  # extra table columns shown read-only (family, prefix_len ...)
    summary: str = ""
    #: Who may change rows: admins and engineers ("inventory"), or every staff user ("staff":
    #: contacts, which the NOC keeps current while taking calls and mail).
    writers: str = "inventory"

    def __post_init__(self) -> None:
        self.by_name = {f.name: f for f in self.fields}
        self.limits: dict[str, int] = {}  # column -> most characters it holds
        for c in self.table._meta.columns:
            size = columns.max_length(c)
            if size is not None:
                self.limits[c._meta.name] = size
        by_column = {c._meta.name: c for c in self.table._meta.columns}
        for f in self.fields:
            column = by_column.get(f.column) if f.stored else None
            if column is None:
                continue
            if f.type == "str" and f.max_length is None:
                f.max_length = columns.max_length(column)
                f.multiline = f.multiline or columns.is_multiline(column)
            bounds = columns.int_range(column) if f.type == "int" and f.ref is None else None
            if bounds is not None:
                f.min = bounds[0] if f.min is None else max(f.min, bounds[0])
                f.max = bounds[1] if f.max is None else min(f.max, bounds[1])
        self.filters: dict[str, tuple[str, str]] = {
            f.name: (f.column, "int" if f.type == "int" else "str") for f in self.fields if f.filter and f.stored
        }
        self.filters.update(self.extra_filters)
        self.output_only = {"id", "created_at", "updated_at", *self.output}

    def col(self, name: str):
        return self.table._meta.get_column_by_name(name)


# --------------------------------------------------------------------------- helpers


def require_staff(viewer: Viewer) -> None:
    if not viewer.is_staff:
        raise Forbidden("this is for staff users")


def require_inventory(viewer: Viewer) -> None:
    if not viewer.edits_inventory:
        raise Forbidden("changing the inventory is for engineers and administrators")


def require_writer(resource: "Resource", viewer: Viewer) -> None:
    """The role check for changing rows of `resource` (see Resource.writers)."""
    (require_staff if resource.writers == "staff" else require_inventory)(viewer)


def scope(resource: Resource, viewer: Viewer) -> list:
    """The where-clauses that limit `viewer` to what they may read — the one
    place tenant scoping lives. Staff see everything; a client user sees rows
    of their own client only (and nothing of tables not tied to a client)."""
    if viewer.is_staff:
        return []
    if viewer.is_client and viewer.client_id is not None:
        if resource.client_scope == "id":
            return [resource.table._meta.primary_key == viewer.client_id]
        if resource.client_scope:
            return [resource.col(resource.client_scope) == viewer.client_id]
    raise Forbidden(f"{resource.path} are for staff users")


#: Run independent reads (queries or coroutines); on PostgreSQL their plain-SQL
#: statements go out in batches, on SQLite one after another (see gather_reads).
read_all = gather_reads


#: Longest value of one query-string filter (a comma list of ids, a search text).
FILTER_MAX = 2000


def contains(column, text: str):
    """`column` contains `text`, case-insensitively (ASCII, as the columns
    searched hold normalised copies) and literally: `%` and `_` are plain
    characters here, not LIKE wildcards."""
    return WhereRaw(contains_sql(column._meta.get_full_name(with_alias=False), "{}", is_sqlite()), text.lower())


def contains_sql(column: str, placeholder: str, sqlite: bool) -> str:
    """contains() as SQL text: `column` (SQL) holds the lower-cased text bound at `placeholder`."""
    return f"{'instr' if sqlite else 'strpos'}(lower({column}), {placeholder}) > 0"


def _joined(clauses: list, op=operator.and_):
    """The clauses joined by `op` (AND by default, or operator.or_); None when there are none."""
    return functools.reduce(op, clauses) if clauses else None


#: References the database can't hold as foreign keys because they point up
#: the layers (accounts sits below cmdb): table -> [(column, noun, label column)].
PLAIN_REFERENCES: dict[type[Table], list[tuple[Any, str, str]]] = {Client: [(User.client_id, "portal user", "email")]}


async def referenced_by(table: type[Table], row_id: int) -> list[str]:
    """What still points at a row through ON DELETE RESTRICT foreign keys,
    e.g. ['3 assets (sw-1, sw-2, ...)', '1 service']. Found from the tables'
    metadata, so a new table with such a key is covered without code."""
    references = [
        (fk, fk._meta.table._meta.tablename.removeprefix("cmdb_").replace("_", " "), "name")
        for fk in table._meta.foreign_key_references
        if fk._foreign_key_meta.on_delete == OnDelete.restrict
    ] + PLAIN_REFERENCES.get(table, [])
    found = []
    for column, noun, label in references:
        other = column._meta.table
        n = await other.count().where(column == row_id)
        if not n:
            continue
        text = f"{n} {noun}{'' if n == 1 else 's'}"
        if label in [c._meta.name for c in other._meta.columns]:
            rows = await other.select(other._meta.get_column_by_name(label)).where(column == row_id).limit(3)
            names = ", ".join(str(r[label]) for r in rows)
            text += f" ({names}{', ...' if n > 3 else ''})"
        found.append(text)
    return found


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value


# --------------------------------------------------------------------------- the service


class ResourceService:
    """create/update/delete/get/list for one resource; every call takes the Viewer."""

    def __init__(self, resource: Resource):
        self.r = resource
        self.table = resource.table
        self.pk = resource.table._meta.primary_key

    # ---- reading

    async def _row(self, row_id: int, viewer: Viewer | None = None) -> dict:
        clauses = [self.pk == row_id] + (scope(self.r, viewer) if viewer else [])
        row = await self.table.select().where(*clauses).first()
        if row is None:
            raise NotFound(f"no {self.r.name} {row_id}", field="id")
        return row

    def to_api(self, row: dict, viewer: Viewer) -> dict:
        out: dict = {"id": row["id"]}
        for f in self.r.fields:
            if not f.stored or (f.internal and not viewer.is_staff):
                continue
            value = row.get(f.column)
            if f.secret:
                out[f"{f.name}_set"] = value not in (None, "")
                continue
            out[f.name] = value
        for name in self.r.output:
            out[name] = row.get(name)
        for name in ("created_at", "updated_at"):
            if name in row:
                out[name] = _jsonable(row[name])
        return out

    async def present(self, rows: list[dict], viewer: Viewer) -> list[dict]:
        out = [self.to_api(r, viewer) for r in rows]
        if self.r.expand and out:
            await self.r.expand(out, viewer)
        return out

    async def get(self, viewer: Viewer, row_id: int) -> dict:
        async with reading():
            row = await self._row(row_id, viewer)
            return (await self.present([row], viewer))[0]

    def where_for(self, viewer: Viewer, filters: dict[str, str]) -> list:
        """Where-clauses of the filters; every bad filter reported at once."""
        clauses = scope(self.r, viewer)
        problems = validation.Problems()
        for name, raw in filters.items():
            if raw is None or raw == "":
                continue
            raw = problems.take(validation.text, raw, name, max_length=FILTER_MAX, multiline=False)
            if raw is None:
                continue
            if name == "q":
                clause = problems.take(self._q_clause, raw)
                if clause is not None:
                    clauses.append(clause)
                continue
            if name not in self.r.filters:
                allowed = ", ".join(sorted([*self.r.filters, "q", "sort", "limit", "offset"]))
                problems.add(name, f"unknown filter {name!r}; filters here: {allowed}")
                continue
            column_name, kind = self.r.filters[name]
            column = self.r.col(column_name)
            if raw.lower() in ("null", "none"):
                clauses.append(column.is_null())
                continue
            values = [v.strip() for v in raw.split(",") if v.strip()]
            if kind == "int":
                bounds = columns.int_range(column) or (validation.ID_MIN, validation.ID_MAX)
                values = [problems.take(validation.integer, v, name, min=bounds[0], max=bounds[1]) for v in values]
                if None in values:
                    continue
            if not values:
                continue
            clauses.append(column == values[0] if len(values) == 1 else column.is_in(values))
        problems.raise_if_any()
        return clauses

    def _q_clause(self, raw: str):
        if not self.r.q_columns:
            raise Invalid(f"{self.r.path} have no text search", field="q")
        text = self.r.q_norm(raw)
        return _joined([contains(self.r.col(c), text) for c in self.r.q_columns], operator.or_)

    def sortable(self) -> list[str]:
        """Fields a list may be sorted by: id and every plain stored field (not secrets, not lists)."""
        return ["id"] + [f.name for f in self.r.fields if f.stored and not f.secret and f.type != "ids"]

    def _order(self, sort: str | None) -> tuple[Any, bool]:
        if not sort:
            return self.pk, True
        name = sort.lstrip("-")
        if name not in self.sortable():
            raise Invalid(f"sort must be one of {', '.join(self.sortable())} (a leading '-' sorts descending)", field="sort")
        return (self.pk if name == "id" else self.r.col(self.r.by_name[name].column)), not sort.startswith("-")

    async def list(self, viewer: Viewer, filters: dict[str, str] | None = None, limit: int = 50, offset: int = 0,
                   sort: str | None = None) -> dict:
        """{"count", "results"} of the rows matching `filters` (?client_id=, ?kind=, ?q= ...),
        ordered by `sort` (a field name, '-' first for descending; ties by id)."""
        clauses = self.where_for(viewer, dict(filters or {}))
        where = _joined(clauses)
        column, ascending = self._order(sort)
        async with reading():
            count_q = self.table.count()
            rows_q = self.table.select().order_by(column, ascending=ascending)
            if column is not self.pk:
                rows_q = rows_q.order_by(self.pk)
            rows_q = rows_q.limit(limit).offset(offset)
            if where is not None:
                count_q, rows_q = count_q.where(where), rows_q.where(where)
            count = await count_q
            rows = await rows_q
            return {"count": count, "results": await self.present(rows, viewer)}

    # ---- writing

    def parse(self, data: Any, partial: bool) -> dict:
        """API input -> {field name: clean value}; every problem reported at once."""
        if not isinstance(data, dict):
            raise Invalid(f"the body must be a JSON object with the {self.r.name}'s fields", field="body")
        errors: list[dict] = []
        out: dict = {}
        for name, raw in data.items():
            f = self.r.by_name.get(name)
            if f is None:
                if name in self.r.output_only or name.endswith("_set") or name in ("utilisation",):
                    continue  # read-only fields echoed back from a GET
                errors.append({"field": name, "message": f"unknown field; fields: {', '.join(self.r.by_name)}"})
                continue
            try:
                out[name] = f.parse(raw)
            except Invalid as exc:
                errors.extend(exc.errors or [{"field": name, "message": exc.detail}])
        if not partial:
            for f in self.r.fields:
                if f.name in out:
                    continue
                if f.required:
                    errors.append({"field": f.name, "message": f"{f.name} is required"})
                elif f.default is not MISSING:
                    out[f.name] = f.default
        if errors:
            detail = "; ".join(f"{e['field']}: {e['message']}" if not e["message"].startswith(e["field"]) else e["message"] for e in errors)
            raise Invalid(detail, field=errors[0]["field"], errors=errors)
        return out

    def _columns(self, parsed: dict) -> dict:
        """Parsed fields -> column values; a derived value (a normalised copy,
        a canonical form) that outgrows its column is the field's problem."""
        values: dict = {}
        problems = validation.Problems()
        for name, value in parsed.items():
            derived = self.r.by_name[name].to_columns(value)
            for column, v in derived.items():
                problems.take(validation.fits, v, name, self.r.limits.get(column),
                              "normalised" if column != self.r.by_name[name].column else "")
            values.update(derived)
        problems.raise_if_any()
        return values

    def _defaults(self) -> dict:
        row = self.table()
        return {c._meta.name: getattr(row, c._meta.name) for c in self.table._meta.columns if c._meta.name != "id"}

    async def _check_refs(self, ctx: Ctx) -> None:
        errors = []
        for f in self.r.fields:
            if f.ref is None or f.name not in ctx.data:
                continue
            ids = ctx.data[f.name]
            ids = ids if isinstance(ids, list) else ([ids] if ids is not None else [])
            if not ids:
                continue
            if f.stored and not ctx.touched(f.column):
                continue
            ref_pk = f.ref._meta.primary_key
            found = {r["id"] for r in await f.ref.select(ref_pk).where(ref_pk.is_in(ids))}
            missing = [i for i in ids if i not in found]
            if missing:
                errors.append({"field": f.name, "message": f"{f.name}: no {f.ref_label} {', '.join(map(str, missing))}"})
        if errors:
            raise Invalid("; ".join(e["message"] for e in errors), field=errors[0]["field"], errors=errors)

    async def _check_unique(self, ctx: Ctx) -> None:
        for rule in self.r.unique:
            if not ctx.touched(*rule.columns):
                continue
            if rule.when is not None and not rule.when(ctx.after):
                continue
            clauses = [self.r.col(c) == ctx.after[c] for c in rule.columns]
            if ctx.id is not None:
                clauses.append(self.pk != ctx.id)
            holder = await self.table.select(self.pk, self.r.col(self.r.label)).where(*clauses).first()
            if holder is not None:
                value = ctx.data.get(rule.field, ctx.after.get(rule.field))
                raise Conflict(
                    f"{rule.what} {value} is already used by {self.r.name} {holder[self.r.label]} (id {holder['id']})",
                    field=rule.field,
                )

    async def _checks(self, ctx: Ctx) -> None:
        await self._check_refs(ctx)
        await self._check_unique(ctx)
        if self.r.check:
            await self.r.check(ctx)

    async def _guarded(self, ctx: Ctx, write: Callable[[], Awaitable[int]]) -> int:
        """Run checks and `write` in one transaction; a race the database caught
        is explained by re-running the checks once the transaction is gone."""
        try:
            async with atomic():
                if self.r.lock:
                    await self.r.lock()
                await self._checks(ctx)
                return await write()
        except INTEGRITY_ERRORS as exc:
            if not is_unique_violation(exc):
                raise
            failed = exc
        explained: DomainError | None = None
        try:
            await self._checks(ctx)
        except DomainError as known:
            explained = known
        except Exception:  # noqa: BLE001 - inside an aborted outer transaction nothing can be read
            log.debug("could not re-run the %s checks after %s", self.r.name, failed, exc_info=True)
            explained = None
        if explained is not None:
            raise explained from failed
        raise Conflict(f"the {self.r.name} conflicts with a concurrent change; try again ({failed})") from failed

    def _admin_only(self, viewer: Viewer, parsed: dict, before: dict | None) -> None:
        """Fields only administrators may set (SNMP settings: whoever sets the
        management address and port decides where the stored credentials go)."""
        if viewer.is_admin:
            return
        refused = [
            f.name for f in self.r.fields
            if f.admin_only and f.name in parsed
            and parsed[f.name] != (before.get(f.column) if before is not None else f.default_value(self.table))
        ]
        if refused:
            raise Forbidden(f"only administrators may set {', '.join(refused)}", field=refused[0],
                            errors=[{"field": n, "message": "only administrators may set this field"} for n in refused])

    async def create(self, viewer: Viewer, data: dict) -> dict:
        require_writer(self.r, viewer)
        parsed = self.parse(data, partial=False)
        self._admin_only(viewer, parsed, None)
        values = self._columns(parsed)
        after = {**self._defaults(), **values}
        if self.r.prepare:
            self.r.prepare(after, None)
        ctx = Ctx(viewer, self.r, None, after, set(after), parsed)

        async def write() -> int:
            result = await self.table.insert(self.table(**after)).returning(self.pk)
            ctx.id = result[0]["id"]
            if self.r.after_write:
                await self.r.after_write(ctx)
            await audit(viewer, "create", self.r.name, ctx.id, self._audit_values(parsed))
            return ctx.id

        new_id = await self._guarded(ctx, write)
        return await self.get(viewer, new_id)

    async def update(self, viewer: Viewer, row_id: int, data: dict) -> dict:
        require_writer(self.r, viewer)
        parsed = self.parse(data, partial=True)
        before = await self._row(row_id, viewer)
        self._admin_only(viewer, parsed, before)
        after = {**before, **self._columns(parsed)}
        if self.r.prepare:
            self.r.prepare(after, before)
        changed = {k for k in after if k in before and after[k] != before[k]}
        ctx = Ctx(viewer, self.r, before, after, changed, parsed, id=row_id)

        async def write() -> int:
            columns = {self.r.col(k): after[k] for k in changed}
            if "updated_at" in before:
                columns[self.r.col("updated_at")] = dt.datetime.now(dt.timezone.utc)
            if columns:
                await self.table.update(columns).where(self.pk == row_id)
            if self.r.after_write:
                await self.r.after_write(ctx)
            diff = {
                f.name: self._redact(f, [before.get(f.column), after.get(f.column)])
                for f in self.r.fields
                if f.stored and f.column in changed
            }
            diff.update({k: v for k, v in parsed.items() if not self.r.by_name[k].stored})
            await audit(viewer, "update", self.r.name, row_id, diff)
            return row_id

        await self._guarded(ctx, write)
        return await self.get(viewer, row_id)

    async def delete(self, viewer: Viewer, row_id: int) -> None:
        require_writer(self.r, viewer)
        async with atomic():
            before = await self._row(row_id, viewer)
            blockers = await referenced_by(self.table, row_id)
            if blockers:
                raise Conflict(
                    f"{self.r.name} {before.get(self.r.label, row_id)} is still referenced by {', '.join(blockers)}",
                    field="id",
                )
            await self.table.delete().where(self.pk == row_id)
            snapshot = {f.name: self._redact(f, before.get(f.column)) for f in self.r.fields if f.stored}
            await audit(viewer, "delete", self.r.name, row_id, snapshot)

    # ---- audit

    @staticmethod
    def _redact(f: Field, value: Any) -> Any:
        if not f.secret:
            return value
        if isinstance(value, list):
            return ["***" if v else v for v in value]
        return "***" if value else value

    def _audit_values(self, parsed: dict) -> dict:
        return {k: self._redact(self.r.by_name[k], v) for k, v in parsed.items()}
