"""`GET /api/v1/audit`: the audit log for administrators, newest first, paginated.

Here rather than in accounts/ because the list format (cmdb.paging) lives above
accounts; the reading itself is accounts.audit_log's. There is deliberately no
route that changes or deletes an entry.
"""

from __future__ import annotations

from litestar import Request, get
from typing import Annotated

from litestar.params import FromQuery, QueryParameter

from accounts import audit_log
from accounts.api import AuditEntry
from accounts.http import CurrentViewer, require_admin
from cmdb import paging


@get("/audit", guards=[require_admin], tags=["audit"],
     summary="Audit log: who did what, when, from where, before/after (administrators)",
     description="Filters: `object_type` (client, asset, incident, user, api_token, assets (export) ...), "
     "`object_id`, `user` (a user id or an e-mail), `from` (inclusive) and `to` (exclusive) as ISO 8601. "
     "Pagination: `limit`, `offset`.")
async def list_audit(
    request: Request,
    viewer: CurrentViewer,
    object_type: FromQuery[str | None] = None,
    object_id: FromQuery[int | None] = None,
    user: FromQuery[str | None] = None,
    since: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    limit: FromQuery[int] = paging.DEFAULT_LIMIT,
    offset: FromQuery[int] = 0,
) -> paging.Page[AuditEntry]:
    limit, offset = paging.check(limit, offset)
    f = audit_log.AuditFilter(object_type=object_type or None, object_id=object_id, user=user or None,
                              since=audit_log.parse_time(since, "from"), until=audit_log.parse_time(to, "to"))
    count, results = await audit_log.entries(viewer, f, limit=limit, offset=offset)
    return paging.page(str(request.url), count, results, limit, offset)


api_routes = [list_audit]
