"""Administration pages: CSV import with a per-row report and a dry run,
users, API tokens. Administrators only (the services refuse anyone else)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from accounts import admin as accounts_admin
from accounts.errors import DomainError, Forbidden
from accounts.http import CurrentViewer
from accounts.viewer import ROLES, Viewer
from cmdb.csvio import KINDS, ImportRejected, import_csv
from pages.crud import field_errors
from pages.inventory import TITLES, ref_options
from cmdb import services

FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
UploadBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("this page is for administrators")


def _import_context(kind: str, **extra) -> dict:
    return {"kinds": [(k, TITLES.get(k, (k,))[0]) for k in KINDS], "kind": kind, "dry_run": True, "report": None,
            "rejected": None, "error": None, "nav": "admin", **extra}


@get("/import", name="import_page")
async def import_page(request: Request, viewer: CurrentViewer) -> Template:
    _admin(viewer)
    kind = request.query_params.get("kind") or KINDS[0]
    return Template("pages/import.html", context=_import_context(kind if kind in KINDS else KINDS[0]))


@post("/import", name="import_submit", status_code=200, request_max_body_size=100_000_000)
async def import_submit(viewer: CurrentViewer, data: UploadBody) -> Template:
    """Runs the same all-or-nothing import as the API and the CLI; shows what it did or every bad row."""
    _admin(viewer)
    kind = str(data.get("kind") or "")
    dry_run = str(data.get("dry_run") or "") in ("1", "on", "true")
    upload = data.get("file")
    context = _import_context(kind if kind in KINDS else KINDS[0], dry_run=dry_run)
    if kind not in KINDS:
        return Template("pages/import.html", context={**context, "error": "kind"}, status_code=422)
    if not isinstance(upload, UploadFile):
        return Template("pages/import.html", context={**context, "error": "file"}, status_code=422)
    content = await upload.read()
    try:
        report = await import_csv(kind, content, viewer, dry_run=dry_run)
    except ImportRejected as exc:
        return Template("pages/import.html", context={**context, "rejected": exc.report, "filename": upload.filename},
                        status_code=422)
    except DomainError as exc:
        return Template("pages/import.html", context={**context, "error_text": exc.detail}, status_code=exc.status)
    return Template("pages/import.html", context={**context, "report": report, "filename": upload.filename})


# ---------------------------------------------------------------- users


async def _users_context(viewer: Viewer, **extra) -> dict:
    return {"users": await accounts_admin.list_users(viewer), "roles": ROLES,
            "clients": await ref_options(services.CONTACT.by_name["client_id"]) or [], "values": {}, "errors": {},
            "general_error": None, "nav": "admin", **extra}


@get("/admin/users", name="users_page")
async def users_page(viewer: CurrentViewer) -> Template:
    return Template("pages/users.html", context=await _users_context(viewer))


@post("/admin/users", name="users_create", status_code=303)
async def users_create(viewer: CurrentViewer, data: FormBody) -> Template | Redirect:
    try:
        await accounts_admin.create_user(viewer, data)
    except DomainError as exc:
        errors, general = field_errors(exc)
        values = {k: v for k, v in data.items() if k != "password"}
        return Template("pages/users.html", status_code=exc.status, context=await _users_context(
            viewer, values=values, errors=errors, general_error=general))
    return Redirect("/admin/users", status_code=303)


@post("/admin/users/{user_id:int}/active", name="users_active", status_code=303)
async def users_active(viewer: CurrentViewer, user_id: FromPath[int], data: FormBody) -> Redirect:
    await accounts_admin.set_active(viewer, user_id, str(data.get("active")) == "1")
    return Redirect("/admin/users", status_code=303)


# ---------------------------------------------------------------- API tokens


async def _tokens_context(viewer: Viewer, **extra) -> dict:
    return {"tokens": await accounts_admin.list_tokens(viewer), "new_token": None, "values": {}, "errors": {},
            "general_error": None, "nav": "admin", **extra}


@get("/admin/tokens", name="tokens_page")
async def tokens_page(viewer: CurrentViewer) -> Template:
    return Template("pages/tokens.html", context=await _tokens_context(viewer))


@post("/admin/tokens", name="tokens_create", status_code=200)
async def tokens_create(viewer: CurrentViewer, data: FormBody) -> Template:
    """The new token is on this response only (it is stored hashed)."""
    try:
        token = await accounts_admin.create_token(viewer, data)
    except DomainError as exc:
        errors, general = field_errors(exc)
        return Template("pages/tokens.html", status_code=exc.status, context=await _tokens_context(
            viewer, values=dict(data), errors=errors, general_error=general))
    return Template("pages/tokens.html", context=await _tokens_context(viewer, new_token=token),
                    headers={"Cache-Control": "no-store"})


@post("/admin/tokens/{token_id:int}/revoke", name="tokens_revoke", status_code=303)
async def tokens_revoke(viewer: CurrentViewer, token_id: FromPath[int]) -> Redirect:
    await accounts_admin.revoke_token(viewer, token_id)
    return Redirect("/admin/tokens", status_code=303)


page_routes: list = [import_page, import_submit, users_page, users_create, users_active, tokens_page, tokens_create,
                     tokens_revoke]
