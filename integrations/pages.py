"""Staff pages of the integrations, thin over the same services as the API:

- /mail/quarantine: mail from unknown senders — accept the sender as a contact
  of a client (their pending mail is then processed) or drop it;
- /admin/netbox: run the NetBox import (dry run first: the diff), administrators only.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from accounts.errors import Forbidden, Invalid
from accounts.http import CurrentViewer
from cmdb import services as cmdb
from integrations import mail
from integrations.mail import MailConfig
from integrations.netbox import NetboxClient, NetboxError, import_netbox
import validation

FormBody = Annotated[dict, Body(media_type=RequestEncodingType.URL_ENCODED)]
QUARANTINE_PAGE_ROWS = 200
CLIENT_CHOICES = 2000


@get("/mail/quarantine", name="mail-quarantine")
async def quarantine_page(viewer: CurrentViewer, status: FromQuery[str] = "pending") -> Template:
    listing = await mail.quarantine(viewer, status or "pending", QUARANTINE_PAGE_ROWS, 0)
    clients = (await cmdb.clients.list(viewer, {}, limit=CLIENT_CHOICES))["results"]
    return Template("integrations/quarantine.html", context={
        "listing": listing, "status": status or "pending", "clients": clients, "nav": "quarantine"})


def _client_id(data: dict) -> int:
    try:
        return validation.ident(str(data.get("client_id") or ""), "client_id")
    except Invalid:
        raise Invalid("choose the client the sender belongs to", field="client_id") from None


@post("/mail/quarantine/{quarantine_id:int}/accept", status_code=303)
async def quarantine_accept_page(request: Request, viewer: CurrentViewer, quarantine_id: FromPath[int],
                                 data: FormBody) -> Redirect:
    await mail.accept(viewer, quarantine_id, {"client_id": _client_id(data), "name": (data.get("name") or "").strip()},
                      MailConfig.from_settings(request.app.state.settings))
    return Redirect("/mail/quarantine", status_code=303)


@post("/mail/quarantine/{quarantine_id:int}/drop", status_code=303)
async def quarantine_drop_page(viewer: CurrentViewer, quarantine_id: FromPath[int]) -> Redirect:
    await mail.drop(viewer, quarantine_id)
    return Redirect("/mail/quarantine", status_code=303)


def _admin(viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("the NetBox import is for administrators")


@get("/admin/netbox", name="netbox-import")
async def netbox_page(viewer: CurrentViewer) -> Template:
    _admin(viewer)
    return Template("integrations/netbox.html", context={"nav": "netbox", "url": "", "report": None, "error": ""})


@post("/admin/netbox", status_code=200)
async def netbox_run_page(viewer: CurrentViewer, data: FormBody) -> Template:
    """Runs the import in the request (it is one transaction either way); the
    token is used for this run only and never stored."""
    _admin(viewer)
    url = (data.get("url") or "").strip()
    token = data.get("token") or ""
    if not url.startswith(("http://", "https://")):
        raise Invalid("the NetBox URL must start with http:// or https://", field="url")
    if not token:
        raise Invalid("give a NetBox API token", field="token")
    dry_run = data.get("dry_run") in ("on", "1", "true")
    client = NetboxClient(url, token)
    report, error = None, ""
    try:
        report = await import_netbox(client, dry_run=dry_run, viewer=viewer)
    except NetboxError as exc:
        error = str(exc)
    finally:
        await client.aclose()
    return Template("integrations/netbox.html", context={"nav": "netbox", "url": url, "report": report,
                                                         "error": error, "dry_run": dry_run})


page_routes: list = [quarantine_page, quarantine_accept_page, quarantine_drop_page, netbox_page, netbox_run_page]
