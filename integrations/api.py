"""HTTP endpoints of the integrations (/api/v1).

POST /ingest/alertmanager | /ingest/librenms | /ingest/zabbix   ingest tokens only
GET  /ingest/unmatched                                          staff
Mail quarantine routes: integrations.mail_api.
"""

from __future__ import annotations

from litestar import Request, get, post
from litestar.params import FromQuery

from accounts.errors import Invalid
from accounts.http import CurrentViewer, require_ingest, require_staff
from integrations import ingest
from integrations.schemas import IngestResult, UnmatchedList

MAX_ALERT_BODY = 10_000_000


async def _json(request: Request):
    try:
        return await request.json()
    except Exception:  # noqa: BLE001 - any unreadable body is the sender's mistake
        raise Invalid("the body must be JSON", field="body") from None


def _ingest_route(source: str, summary: str):
    @post(f"/ingest/{source}", guards=[require_ingest], status_code=200, request_max_body_size=MAX_ALERT_BODY,
          summary=summary, name=f"ingest-{source}", operation_id=f"ingest_{source}")
    async def handler(request: Request, viewer: CurrentViewer) -> IngestResult:
        return await ingest.ingest(source, await _json(request), viewer)

    return handler


ingest_alertmanager = _ingest_route("alertmanager", "Prometheus Alertmanager webhook (payload version 4)")
ingest_librenms = _ingest_route("librenms", "LibreNMS API transport (JSON)")
ingest_zabbix = _ingest_route("zabbix", "Zabbix webhook media type (JSON)")


@get("/ingest/unmatched", guards=[require_staff], summary="Hosts alerts came for that no asset matches")
async def ingest_unmatched(viewer: CurrentViewer, source: FromQuery[str | None] = None) -> UnmatchedList:
    return await ingest.unmatched(viewer, source)


api_routes = [ingest_alertmanager, ingest_librenms, ingest_zabbix, ingest_unmatched]
