"""Mail endpoints (/api/v1), staff only: the quarantine of mail from unknown
senders, and the files that came with an incident's mail.

GET  /mail/quarantine?status=pending|accepted|dropped
POST /mail/quarantine/{id}/accept   {"client_id": 3, "name": "Ann Smith"}  -> a contact, then the mail is processed
POST /mail/quarantine/{id}/drop
GET  /incidents/{id}/attachments
GET  /incidents/{id}/attachments/{attachment_id}   the file itself
"""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from accounts.http import CurrentViewer, require_staff
from integrations import mail
from integrations.mail import MailConfig
from integrations.schemas import Accepted, AttachmentOut, Dropped, QuarantineList


@get("/mail/quarantine", guards=[require_staff], summary="Mail from unknown senders, waiting for a decision")
async def quarantine_list(viewer: CurrentViewer, status: FromQuery[str | None] = "pending",
                          limit: FromQuery[int] = 100, offset: FromQuery[int] = 0) -> QuarantineList:
    return await mail.quarantine(viewer, status, max(1, limit), max(0, offset))


@post("/mail/quarantine/{quarantine_id:int}/accept", guards=[require_staff], status_code=200,
      summary="Accept the sender as a contact of a client; their pending mail is then processed")
async def quarantine_accept(request: Request, viewer: CurrentViewer, quarantine_id: FromPath[int],
                            data: JSONBody[dict]) -> Accepted:
    return await mail.accept(viewer, quarantine_id, data, MailConfig.from_settings(request.app.state.settings))


@post("/mail/quarantine/{quarantine_id:int}/drop", guards=[require_staff], status_code=200,
      summary="Drop a quarantined mail")
async def quarantine_drop(viewer: CurrentViewer, quarantine_id: FromPath[int]) -> Dropped:
    return await mail.drop(viewer, quarantine_id)


@get("/incidents/{incident_id:int}/attachments", guards=[require_staff],
     summary="Files that came with the incident's mail")
async def incident_attachments(viewer: CurrentViewer, incident_id: FromPath[int]) -> list[AttachmentOut]:
    return await mail.attachments(viewer, incident_id)


@get("/incidents/{incident_id:int}/attachments/{attachment_id:int}", guards=[require_staff],
     media_type="application/octet-stream", summary="One attachment, as the file (with its own content type)")
async def incident_attachment(viewer: CurrentViewer, incident_id: FromPath[int],
                              attachment_id: FromPath[int]) -> Response:
    row = await mail.attachment(viewer, incident_id, attachment_id)
    safe = "".join(c for c in row["filename"] if c.isalnum() or c in "._- ") or "attachment"
    return Response(bytes(row["data"]), media_type=row["content_type"],
                    headers={"Content-Disposition": f'attachment; filename="{safe}"',
                             "X-Content-Type-Options": "nosniff"})


api_routes = [quarantine_list, quarantine_accept, quarantine_drop, incident_attachments, incident_attachment]
