"""One list-and-form machinery for every list page: a `Pages` adapter says how
to read, write and show one kind of row; `controller(pages)` turns it into

    /{path}              list: filters, sorting, pages
    /{path}/export.csv   the filtered list as CSV
    /{path}/new          create form          (when the kind can be created here)
    /{path}/{id}/edit    edit form, and delete

on the shared templates (pages/list.html, pages/form.html). A refused form
comes back with every problem next to its field. The inventory adapter
(pages.inventory) is made from the CMDB resource declarations; the incident,
maintenance, SLA plan and webhook ones (pages.records) from a few lines each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Response, Template

from accounts.errors import DomainError
from accounts.http import CurrentViewer
from accounts.viewer import Viewer

FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
PAGE_SIZE = 50
#: Errors that are not about the form's values: the error page says them.
NOT_THE_FORM = (403, 404)


def N_(message: str) -> str:
    """Marks a UI string for the catalogue; the template translates it (`_(label)`)."""
    return message


@dataclass
class FormField:
    name: str
    label: str
    widget: str  # text | number | select | textarea | password | ids | datetime
    required: bool = False
    nullable: bool = False
    value: Any = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label) for selects
    error: str | None = None
    help: str = ""
    secret_set: bool = False
    translate: bool = False  # the options' labels are UI strings (N_), not names from the database


def field_errors(exc: DomainError) -> tuple[dict[str, str], str | None]:
    """{field: message} for the problems that name a field, and what is left for the top of the form."""
    by_field: dict[str, str] = {}
    for e in exc.errors or []:
        name = e.get("field")
        if name and name not in by_field:
            by_field[name] = e.get("message") or exc.detail
    return by_field, None if by_field else exc.detail


class Pages:
    """What a list page needs of one kind of row. Subclasses fill in the reading
    (`page`), and, to be editable, `get`/`create`/`update`/`delete`/`form_fields`."""

    path: str
    title: str
    new_title: str = ""
    nav: str = "inventory"
    columns: list[tuple[str, str]]
    sortable: set[str] = set()
    can_create: bool = True
    can_import: bool = False
    label: str = "name"

    def filters_of(self, query: dict[str, str]) -> dict[str, str]:
        return {}

    async def filter_fields(self, filters: dict[str, str]) -> list[FormField]:
        return []

    async def page(self, viewer: Viewer, filters: dict, sort: str | None, limit: int, offset: int
                   ) -> tuple[int, list[dict]]:
        raise NotImplementedError

    async def labels(self, rows: list[dict]) -> dict[str, dict[int, str]]:
        return {}

    def detail_url(self, row_id: int) -> str:
        return f"/{self.path}/{row_id}/edit"

    def after_save(self, row_id: int) -> str:
        return self.detail_url(row_id)

    def created(self, row: dict) -> Template | None:
        """A page to show instead of going on to `after_save`, e.g. a secret the
        server generated, which is in this answer only."""
        return None

    async def export(self, viewer: Viewer, filters: dict) -> Response:
        raise NotImplementedError

    async def get(self, viewer: Viewer, row_id: int) -> dict:
        raise NotImplementedError

    def form_values(self, row: dict, viewer: Viewer) -> dict:
        return row

    async def form_fields(self, viewer: Viewer, values: dict, errors: dict[str, str], current: dict | None,
                          row_id: int | None) -> tuple[list[FormField], dict]:
        """The fields, and anything more the form template shows (free units, prefixes ...)."""
        raise NotImplementedError

    def may_change(self, viewer: Viewer) -> None:
        """Raise Forbidden when `viewer` may not change these rows: the forms are
        refused (403) before any row is looked up, as the API's guards do."""

    async def create(self, viewer: Viewer, data: dict) -> dict:
        raise NotImplementedError

    async def update(self, viewer: Viewer, row_id: int, data: dict) -> None:
        raise NotImplementedError

    async def delete(self, viewer: Viewer, row_id: int) -> None:
        raise NotImplementedError


def controller(pages: Pages) -> type[Controller]:
    async def render_form(viewer: Viewer, values: dict, *, row_id: int | None = None, current: dict | None = None,
                          errors: dict[str, str] | None = None, general: str | None = None,
                          status_code: int = 200) -> Template:
        fields, extra = await pages.form_fields(viewer, values, errors or {}, current, row_id)
        shown = {f.name for f in fields}
        elsewhere = [message for name, message in (errors or {}).items() if name not in shown]
        if elsewhere:  # a problem with no field of its own on this form goes on top
            general = "; ".join([*([general] if general else []), *elsewhere])
        heading = pages.new_title if row_id is None else str((current or {}).get(pages.label) or row_id)
        return Template("pages/form.html", status_code=status_code, context={
            "path": pages.path, "title": pages.title, "heading": heading, "fields": fields, "row_id": row_id,
            "general_error": general, "nav": pages.nav, "current": current, **extra,
        })

    async def refused(exc: DomainError, viewer: Viewer, values: dict, **kw) -> Template:
        if exc.status in NOT_THE_FORM:
            raise exc
        errors, general = field_errors(exc)
        return await render_form(viewer, values, errors=errors, general=general, status_code=exc.status, **kw)

    class CrudController(Controller):
        path = f"/{pages.path}"
        include_in_schema = False

        @get("/", name=f"list:{pages.path}")
        async def list_page(self, request: Request, viewer: CurrentViewer) -> Template:
            filters = pages.filters_of(dict(request.query_params))
            sort = request.query_params.get("sort") or ""
            raw_page = str(request.query_params.get("page") or "1")
            page = max(1, int(raw_page)) if raw_page.isdigit() else 1
            error = None
            try:
                count, rows = await pages.page(viewer, filters, sort or None, PAGE_SIZE, (page - 1) * PAGE_SIZE)
            except DomainError as exc:
                if exc.status in NOT_THE_FORM:
                    raise
                count, rows, error = 0, [], exc.detail

            def link(**change) -> str:
                query = {**filters, "sort": sort, "page": str(page), **change}
                return f"/{pages.path}?" + urlencode({k: v for k, v in query.items() if v not in ("", None)})

            return Template("pages/list.html", context={
                "path": pages.path, "title": pages.title, "columns": pages.columns, "sortable": pages.sortable,
                "rows": rows, "count": count, "labels": await pages.labels(rows), "sort": sort, "page": page,
                "pages": max(1, -(-count // PAGE_SIZE)), "link": link, "error": error, "nav": pages.nav,
                "page_url": lambda n: link(page=n),
                "filters": await pages.filter_fields(filters), "active": filters,
                "detail_url": lambda _path, row_id: pages.detail_url(row_id),
                "export_url": f"/{pages.path}/export.csv" + ("?" + urlencode(filters) if filters else ""),
                "can_create": pages.can_create, "can_import": pages.can_import,
            })

        @get("/export.csv", name=f"list:{pages.path}:export")
        async def export(self, request: Request, viewer: CurrentViewer) -> Response:
            return await pages.export(viewer, pages.filters_of(dict(request.query_params)))

        @get("/new", name=f"list:{pages.path}:new")
        async def new_form(self, request: Request, viewer: CurrentViewer) -> Template:
            pages.may_change(viewer)
            return await render_form(viewer, dict(request.query_params))

        @post("/new", name=f"list:{pages.path}:create", status_code=303)
        async def create(self, viewer: CurrentViewer, data: FormBody) -> Template | Redirect:
            pages.may_change(viewer)
            try:
                row = await pages.create(viewer, data)
            except DomainError as exc:
                return await refused(exc, viewer, data)
            return pages.created(row) or Redirect(pages.after_save(row["id"]), status_code=303)

        @get("/{item_id:int}/edit", name=f"list:{pages.path}:edit")
        async def edit_form(self, viewer: CurrentViewer, item_id: FromPath[int]) -> Template:
            current = await pages.get(viewer, item_id)
            return await render_form(viewer, pages.form_values(current, viewer), row_id=item_id, current=current)

        @post("/{item_id:int}/edit", name=f"list:{pages.path}:update", status_code=303)
        async def update(self, viewer: CurrentViewer, item_id: FromPath[int], data: FormBody) -> Template | Redirect:
            pages.may_change(viewer)
            current = await pages.get(viewer, item_id)
            try:
                await pages.update(viewer, item_id, data)
            except DomainError as exc:
                return await refused(exc, viewer, data, row_id=item_id, current=current)
            return Redirect(pages.after_save(item_id), status_code=303)

        @post("/{item_id:int}/delete", name=f"list:{pages.path}:delete", status_code=303)
        async def remove(self, viewer: CurrentViewer, item_id: FromPath[int]) -> Template | Redirect:
            pages.may_change(viewer)
            current = await pages.get(viewer, item_id)
            try:
                await pages.delete(viewer, item_id)
            except DomainError as exc:
                return await refused(exc, viewer, pages.form_values(current, viewer), row_id=item_id, current=current)
            return Redirect(f"/{pages.path}", status_code=303)

    if not pages.can_create:
        for name in ("new_form", "create", "edit_form", "update", "remove"):
            delattr(CrudController, name)
    CrudController.__name__ = CrudController.__qualname__ = f"{pages.path.title().replace('-', '')}Pages"
    return CrudController
