"""List and form pages for what is not inventory: incidents (list), maintenance
windows, SLA plans and webhooks (list, create, edit, delete). One declaration
per kind (`Kind`), one controller factory, the same templates as the
inventory pages (pages/list.html, pages/form.html) — thin over the services
the API calls (incidents.services, incidents.admin).

    /{path}              list: filters, sorting, pages, CSV export (/{path}/export.csv)
    /{path}/new          create form          (not incidents: they open from calls and probes)
    /{path}/{id}/edit    edit form, and delete
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litestar.response import Response, Template

from accounts.errors import Forbidden, Invalid
import validation
from validation.spreadsheet import csv_download, inert_value
from accounts.services import audit
from accounts.viewer import Viewer
from incidents import admin, chat, services, workflow
from pages.crud import N_, FormField, Pages, controller

EXPORT_BATCH = 500


@dataclass
class Kind:
    path: str
    title: str
    new_title: str
    columns: tuple[tuple[str, str], ...]  # (key, label)
    fetch: Callable[..., Awaitable[tuple[int, list[dict]]]]  # (viewer, filters, sort, limit, offset)
    filters: tuple[tuple[str, str, Choices], ...] = ()  # (name, label, choices; () = free text)
    sorts: tuple[str, ...] = ()
    detail: Callable[[int], str] | None = None
    fields: tuple[tuple[str, str, str, Choices], ...] = ()  # (name, label, widget, choices) of the form
    get_one: Callable[[Viewer, int], Awaitable[dict]] | None = None
    create: Callable[[Viewer, dict], Awaitable[dict]] | None = None
    update: Callable[[Viewer, int, dict], Awaitable[dict]] | None = None
    remove: Callable[[Viewer, int], Awaitable[None]] | None = None
    label: str = "name"
    admin_writes: bool = False  # SLA plans and webhooks are changed by administrators only
    helps: dict[str, str] = field(default_factory=dict)  # field -> a hint under it
    shows_secret: bool = False  # a secret the server generated is shown once after creating


#: A select's choices: values shown as they are, or (value, label) pairs whose labels are UI strings.
Choices = tuple[str, ...] | tuple[tuple[str, str], ...]


def options(choices: Choices) -> tuple[list[tuple[str, str]], bool]:
    """(the (value, label) options, whether the labels are to be translated)."""
    pairs = [c if isinstance(c, tuple) else (c, c) for c in choices]
    return pairs, any(isinstance(c, tuple) for c in choices)


def _matching(rows: list[dict], text: str | None, keys: tuple[str, ...]) -> list[dict]:
    """The rows with `text` in one of `keys` (case-insensitive); all of them without text."""
    if not text:
        return rows
    needle = text.casefold()
    return [r for r in rows if any(needle in str(r.get(k) or "").casefold() for k in keys)]


def _sorted(rows: list[dict], sort: str | None) -> list[dict]:
    if not sort:
        return rows
    key = sort.lstrip("-")
    return sorted(rows, key=lambda r: (r.get(key) is None, str(r.get(key) or "").casefold()), reverse=sort.startswith("-"))


def _page(rows: list[dict], sort: str | None, limit: int, offset: int) -> tuple[int, list[dict]]:
    rows = _sorted(rows, sort)
    return len(rows), rows[offset:offset + limit]


async def _incidents(viewer: Viewer, filters: dict, sort: str | None, limit: int, offset: int):
    f = services.IncidentFilter(
        status=filters.get("status"), category=filters.get("category"),
        client_id=validation.optional_ident(filters.get("client_id"), "client_id"), site_id=validation.optional_ident(filters.get("site_id"), "site_id"),
        asset_id=validation.optional_ident(filters.get("asset_id"), "asset_id"))
    return await services.list_incidents(viewer, f, limit=limit, offset=offset, sort=sort)


async def _windows(viewer: Viewer, filters: dict, sort: str | None, limit: int, offset: int):
    return await admin.list_windows(
        viewer, active_at=filters.get("active_at") or None, when=filters.get("when") or None,
        site_id=validation.optional_ident(filters.get("site_id"), "site_id"), asset_id=validation.optional_ident(filters.get("asset_id"), "asset_id"),
        sort=sort, limit=limit, offset=offset)


async def _plans(viewer: Viewer, filters: dict, sort: str | None, limit: int, offset: int):
    rows = _matching(await admin.list_plans(viewer), filters.get("q"), ("name", "timezone"))
    for r in rows:
        r.update({f"response_{p.lower()}": r["response_minutes"][p] for p in workflow.PRIORITIES})
        r.update({f"resolution_{p.lower()}": r["resolution_minutes"][p] for p in workflow.PRIORITIES})
    return _page(rows, sort, limit, offset)


async def _webhooks(viewer: Viewer, filters: dict, sort: str | None, limit: int, offset: int):
    rows = _matching(await admin.list_webhooks(viewer), filters.get("q"), ("name", "url", "chat_id"))
    return _page([{**r, "events": ",".join(r["events"])} for r in rows], sort, limit, offset)


PRIORITY_FIELDS = (
    ("response_p1", N_("Response P1, min"), "number", ()), ("response_p2", N_("Response P2, min"), "number", ()),
    ("response_p3", N_("Response P3, min"), "number", ()), ("response_p4", N_("Response P4, min"), "number", ()),
    ("resolution_p1", N_("Resolution P1, min"), "number", ()), ("resolution_p2", N_("Resolution P2, min"), "number", ()),
    ("resolution_p3", N_("Resolution P3, min"), "number", ()), ("resolution_p4", N_("Resolution P4, min"), "number", ()),
)

KINDS = (
    Kind("incidents", N_("Incidents"), "", (("title", N_("Incident")), ("priority", N_("Priority")),
         ("status", N_("Status")), ("category", N_("Category")), ("line", N_("Line")), ("opened_at", N_("Opened"))),
         _incidents,
         filters=(("status", N_("Status"), ("open", *workflow.STATUSES)), ("category", N_("Category"), workflow.CATEGORIES),
                  ("client_id", N_("Client (id)"), ()), ("site_id", N_("Site (id)"), ()), ("asset_id", N_("Asset (id)"), ())),
         sorts=("opened_at", "priority", "status", "title"), detail=lambda i: f"/incidents/{i}", label="title"),
    Kind("maintenance", N_("Maintenance windows"), N_("New maintenance window"),
         (("reason", N_("Reason")), ("starts_at", N_("Starts")), ("ends_at", N_("Ends")), ("asset_id", N_("Asset (id)")),
          ("site_id", N_("Site (id)")), ("client_id", N_("Client (id)")), ("created_by", N_("By"))),
         _windows, filters=(("when", N_("When"), (("active", N_("active now")), ("upcoming", N_("upcoming")),
                                                  ("past", N_("past")))),
                            ("site_id", N_("Site (id)"), ()), ("asset_id", N_("Asset (id)"), ()),
                            ("active_at", N_("Active at (ISO 8601)"), ())),
         sorts=admin.WINDOW_SORTS,
         fields=(("asset_id", N_("Asset (id)"), "number", ()), ("site_id", N_("Site (id)"), "number", ()),
                 ("client_id", N_("Client (id)"), "number", ()), ("starts_at", N_("Starts"), "datetime", ()),
                 ("ends_at", N_("Ends"), "datetime", ()), ("reason", N_("Reason"), "textarea", ())),
         get_one=admin.get_window, create=admin.create_window, update=admin.update_window, remove=admin.delete_window,
         label="reason"),
    Kind("sla-plans", N_("SLA plans"), N_("New SLA plan"),
         (("name", N_("Name")), ("hours", N_("Hours")), ("timezone", N_("Time zone")), ("response_p1", N_("Response P1, min")),
          ("resolution_p1", N_("Resolution P1, min"))),
         _plans, filters=(("q", N_("Name contains"), ()),), sorts=("name", "hours", "response_p1", "resolution_p1"),
         fields=(("name", N_("Name"), "text", ()), ("hours", N_("Hours"), "select", ("24x7", "business")),
                 ("timezone", N_("Time zone"), "text", ()), ("business_days", N_("Business days (1 = Monday)"), "text", ()),
                 ("business_start", N_("Business day starts"), "text", ()),
                 ("business_end", N_("Business day ends"), "text", ()), *PRIORITY_FIELDS),
         get_one=admin.get_plan, create=admin.create_plan, update=admin.update_plan, remove=admin.delete_plan,
         admin_writes=True),
    Kind("webhooks", N_("Webhooks"), N_("New webhook"),
         (("name", N_("Name")), ("kind", N_("Kind")), ("url", N_("URL")), ("chat_id", N_("Chat")),
          ("events", N_("Events")), ("active", N_("Active"))),
         _webhooks, filters=(("q", N_("Name, URL or chat contains"), ()),), sorts=("name", "kind", "url"),
         fields=(("name", N_("Name"), "text", ()),
                 ("kind", N_("Kind"), "select", (("webhook", N_("Generic (signed JSON)")),
                                                  ("slack", N_("Slack / Mattermost")), ("telegram", N_("Telegram")))),
                 ("url", N_("URL"), "text", ()), ("secret", N_("Secret"), "password", ()),
                 ("chat_id", N_("Telegram chat"), "text", ()),
                 ("language", N_("Message language"), "select", chat.LANGUAGES),
                 ("events", N_("Events (empty = all)"), "text", ()), ("active", N_("Active"), "select", ("true", "false"))),
         get_one=admin.get_webhook, create=admin.create_webhook, update=admin.update_webhook, remove=admin.delete_webhook,
         admin_writes=True, shows_secret=True,
         helps={"url": N_("Telegram: leave empty for the Bot API"),
                "secret": N_("Generic: the signing key, empty = generate one (shown once). Telegram: the bot token."),
                "chat_id": N_("Telegram only: the chat id or @channel")}),
)

def _zone(viewer: Viewer) -> dt.tzinfo:
    try:
        return ZoneInfo(viewer.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return dt.timezone.utc


def _number(raw: str, name: str) -> int | str:
    """A whole number, or the text as typed: the service refuses it with the field's name."""
    try:
        return validation.integer(raw, name)
    except Invalid:
        return raw


def form_input(kind: Kind, data: dict, viewer: Viewer) -> dict:
    """The browser's strings -> the service's input: numbers, lists, booleans, and
    a datetime-local value read in the viewer's time zone."""
    out: dict[str, Any] = {}
    for name, _label, widget, _choices in kind.fields:
        if name not in data:
            continue
        raw = str(data[name]).strip()
        if widget == "number":
            out[name] = None if raw == "" else _number(raw, name)
        elif widget == "datetime":
            try:
                moment = dt.datetime.fromisoformat(raw) if raw else None
            except ValueError:
                moment = None
            out[name] = raw if moment is None else (moment if moment.tzinfo else moment.replace(tzinfo=_zone(viewer))).isoformat()
        elif widget == "password":
            if raw:  # empty: generate one (new) or keep the stored one (edit)
                out[name] = raw
        elif name == "active":
            out[name] = raw == "true"
        elif name == "business_days":
            out[name] = raw  # the service reads "1,2,3" and names the field when it cannot
        elif name == "events":
            out[name] = [e.strip() for e in raw.split(",") if e.strip()]
        else:
            out[name] = raw
    return out


def form_values(kind: Kind, row: dict, viewer: Viewer) -> dict:
    """A stored row as the form shows it."""
    values = dict(row)
    for p in workflow.PRIORITIES:
        if "response_minutes" in row:
            values[f"response_{p.lower()}"] = row["response_minutes"][p]
            values[f"resolution_{p.lower()}"] = row["resolution_minutes"][p]
    for name in ("starts_at", "ends_at"):
        if isinstance(row.get(name), dt.datetime):
            values[name] = row[name].astimezone(_zone(viewer)).strftime("%Y-%m-%dT%H:%M")
    if isinstance(row.get("business_days"), list):
        values["business_days"] = ",".join(str(d) for d in row["business_days"])
    if isinstance(row.get("events"), list):
        values["events"] = ",".join(row["events"])
    if isinstance(row.get("active"), bool):
        values["active"] = "true" if row["active"] else "false"
    return values


def _cell(value: Any) -> str:
    """One cell of export.csv; text a spreadsheet would run as a formula is made inert."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return "" if value is None else str(inert_value(value))


#: The audit log's names of the records edited here (incidents have a page of their own).
AUDITED = {"maintenance": "maintenance_window", "sla-plans": "sla_plan", "webhooks": "webhook"}


class RecordPages(Pages):
    """The list (and forms) of one `Kind`."""

    nav = "admin"

    def __init__(self, kind: Kind):
        self.kind = kind
        self.path, self.title, self.new_title = kind.path, kind.title, kind.new_title
        self.columns = list(kind.columns)
        self.sortable = set(kind.sorts)
        self.can_create = kind.create is not None
        self.label = kind.label
        self.audit_entity = AUDITED.get(kind.path)

    def filters_of(self, query: dict[str, str]) -> dict[str, str]:
        names = {f[0] for f in self.kind.filters}
        return {k: v for k, v in query.items() if k in names and v != ""}

    async def filter_fields(self, filters: dict[str, str]) -> list[FormField]:
        return [FormField(n, label, "select" if choices else "text", value=filters.get(n, ""),
                          options=options(choices)[0], translate=options(choices)[1])
                for n, label, choices in self.kind.filters]

    async def page(self, viewer, filters, sort, limit, offset):
        if sort and sort.lstrip("-") not in self.kind.sorts:
            sort = None
        return await self.kind.fetch(viewer, filters, sort, limit, offset)

    def detail_url(self, row_id: int) -> str:
        return self.kind.detail(row_id) if self.kind.detail else f"/{self.path}/{row_id}/edit"

    def after_save(self, row_id: int) -> str:
        return f"/{self.path}"

    async def export(self, viewer: Viewer, filters: dict) -> Response:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(["id", *(c for c, _ in self.columns)])
        offset = 0
        while True:
            count, rows = await self.kind.fetch(viewer, filters, None, EXPORT_BATCH, offset)
            for r in rows:
                writer.writerow([r["id"], *(_cell(r.get(c)) for c, _ in self.columns)])
            offset += EXPORT_BATCH
            if offset >= count or not rows:
                break
        await audit(viewer, "export", self.path, None,  # named by its list, as the CMDB exports are
                    {"columns": ["id", *(c for c, _ in self.columns)], "filters": filters})
        return csv_download(buffer.getvalue(), f"{self.path}.csv")

    async def get(self, viewer: Viewer, row_id: int) -> dict:
        return await self.kind.get_one(viewer, row_id)

    def form_values(self, row: dict, viewer: Viewer) -> dict:
        return form_values(self.kind, row, viewer)

    async def form_fields(self, viewer, values, errors, current, row_id):
        if current is None and row_id is None and not values:
            values = {"hours": "24x7", "timezone": "UTC", "active": "true", "kind": "webhook", "language": "en"}
        return [FormField(name, label, widget, value="" if widget == "password" else str(values.get(name, "") or ""),
                          options=options(choices)[0], translate=options(choices)[1], error=errors.get(name),
                          help=self.kind.helps.get(name, ""), secret_set=bool(current and current.get(f"{name}_set")))
                for name, label, widget, choices in self.kind.fields], {}

    def created(self, row: dict) -> Template | None:
        """A webhook's generated secret: on this answer only, never cached."""
        if not (self.kind.shows_secret and row.get("secret")):
            return None
        return Template("pages/secret_once.html", headers={"Cache-Control": "no-store"}, context={
            "path": self.path, "title": self.title, "name": row.get(self.label), "secret": row["secret"],
            "nav": self.nav})

    def may_change(self, viewer: Viewer) -> None:
        if self.kind.admin_writes and not viewer.is_admin:
            raise Forbidden("this is changed by administrators only")

    async def create(self, viewer: Viewer, data: dict) -> dict:
        return await self.kind.create(viewer, form_input(self.kind, data, viewer))

    async def update(self, viewer: Viewer, row_id: int, data: dict) -> None:
        await self.kind.update(viewer, row_id, form_input(self.kind, data, viewer))

    async def delete(self, viewer: Viewer, row_id: int) -> None:
        await self.kind.remove(viewer, row_id)


page_routes: list = [controller(RecordPages(k)) for k in KINDS]
