"""Alert ingest: monitoring alerts -> observations on assets -> the incident
engine, through the same `record_observations` path as the probes, so the
engine dedups, correlates and auto-resolves them like its own findings.

An alert is about the asset whose id or name its `rackcard_asset` label gives,
else whose name (full or short host name) or management IP matches one of its
host strings. Firing = the check's state (critical|warning), resolved = ok.
Alerts are recorded as `trap` observations: the monitoring already confirmed
them, so there is no second hold-down. Alerts for no known asset are counted
per (source, host) and listed at GET /api/v1/ingest/unmatched.

A retried webhook (same content) is applied once: the batch id is a hash of
what it says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

from netaddr import AddrFormatError, IPAddress

from database.transactions import atomic
from accounts.errors import Forbidden, Invalid
import validation
from accounts.viewer import Viewer
from cmdb.tables import Asset
from incidents.checks import record_observations
from integrations.alerts import PARSERS, Alert
from integrations.tables import UnmatchedAlert
from probes.wire import OK, utcnow

UNMATCHED_LIST_LIMIT = 500


def _ip(text: str) -> str | None:
    try:
        return str(IPAddress(text))
    except (AddrFormatError, ValueError, TypeError):
        return None


async def _asset_index(alerts: list[Alert]) -> tuple[dict[int, int], dict[str, int], dict[str, int]]:
    """(ids, names, IPs) of the assets the alerts may name, in two queries."""
    names: set[str] = set()
    ips: set[str] = set()
    ids: set[int] = set()
    for a in alerts:
        for h in a.hosts:
            ip = _ip(h)
            if ip:
                ips.add(ip)
                continue
            names.add(h.lower())
            names.add(h.lower().split(".", 1)[0])
            host_id = validation.id_or_name(h)
            if host_id is not None:
                ids.add(host_id)
    by_id: dict[int, int] = {}
    by_name: dict[str, int] = {}
    by_ip: dict[str, int] = {}
    if names or ids:
        clause = Asset.name_norm.is_in(sorted(names)) if names else None
        if ids:
            clause = Asset.id.is_in(sorted(ids)) if clause is None else clause | Asset.id.is_in(sorted(ids))
        for r in await Asset.select(Asset.id, Asset.name_norm).where(clause).order_by(Asset.id):
            by_id[r["id"]] = r["id"]
            by_name.setdefault(r["name_norm"], r["id"])
    if ips:
        for r in await Asset.select(Asset.id, Asset.mgmt_ip).where(Asset.mgmt_ip.is_in(sorted(ips))).order_by(Asset.id):
            by_ip.setdefault(r["mgmt_ip"], r["id"])
    return by_id, by_name, by_ip


def _match(alert: Alert, by_id: dict, by_name: dict, by_ip: dict) -> int | None:
    explicit = alert.labels.get("rackcard_asset")
    if explicit:
        explicit_id = validation.id_or_name(explicit)
        if explicit_id in by_id:
            return explicit_id
        return by_name.get(explicit.lower())
    for h in alert.hosts:
        ip = _ip(h)
        found = by_ip.get(ip) if ip else (by_name.get(h.lower()) or by_name.get(h.lower().split(".", 1)[0]))
        if found:
            return found
    return None


async def ingest(source: str, payload, viewer: Viewer, now: dt.datetime | None = None) -> dict:
    """Apply one webhook from `source`; returns what was applied and what matched nothing."""
    if not viewer.is_ingest:
        raise Forbidden("alerts are posted with an ingest token (rackcard token create --ingest NAME)")
    if source not in PARSERS:
        raise Invalid(f"unknown alert source {source!r}", field="source")
    alerts = PARSERS[source](payload)
    now = now or utcnow()
    indexes = await _asset_index(alerts)
    observations = []
    unmatched: list[Alert] = []
    for a in alerts:
        asset_id = _match(a, *indexes)
        if asset_id is None:
            unmatched.append(a)
            continue
        observations.append({
            "asset_id": asset_id, "key": a.key, "state": a.severity if a.firing else OK,
            "observed_at": now.isoformat(), "source": "trap", "value": None,
            "message": (a.message if a.firing else f"{a.message} (resolved)")[:2000],
        })
    result = {"alerts": len(alerts), "matched": len(observations), "applied": 0, "duplicate": False,
              "unmatched": sorted({a.hosts[0] if a.hosts else "" for a in unmatched})}
    if observations:
        batch = {"batch_id": _batch_id(source, alerts), "probe": viewer.email, "observations": observations}
        recorded = await record_observations(batch, viewer, now=now)
        result.update(applied=recorded["applied"], duplicate=recorded["duplicate"])
    if unmatched:
        await _count_unmatched(source, unmatched, now)
    return result


def _batch_id(source: str, alerts: list[Alert]) -> str:
    """A hash of what the alerts say when every alert carries its own id: a webhook
    retried by the monitoring is applied once. Without ids, every post is new."""
    if not all(a.ident for a in alerts):
        return uuid.uuid4().hex
    digest = hashlib.sha256(json.dumps(
        [source, [(a.ident, a.firing, a.key, a.hosts, a.severity) for a in alerts]], default=str).encode())
    return f"{source[:2]}-{digest.hexdigest()[:60]}"


async def _count_unmatched(source: str, alerts: list[Alert], now: dt.datetime) -> None:
    seen: dict[str, Alert] = {}
    counts: dict[str, int] = {}
    for a in alerts:
        host = (a.hosts[0] if a.hosts else "(no host)")[:200]
        seen[host] = a
        counts[host] = counts.get(host, 0) + 1
    async with atomic():
        for host, a in seen.items():
            updated = await UnmatchedAlert.update({
                UnmatchedAlert.count: UnmatchedAlert.count + counts[host], UnmatchedAlert.last_seen: now,
                UnmatchedAlert.last_alert: a.name[:200], UnmatchedAlert.labels: json.dumps(a.labels),
            }).where((UnmatchedAlert.source == source) & (UnmatchedAlert.host == host)).returning(UnmatchedAlert.id)
            if not updated:
                await UnmatchedAlert.insert(UnmatchedAlert(
                    source=source, host=host, count=counts[host], last_alert=a.name[:200],
                    labels=json.dumps(a.labels), first_seen=now, last_seen=now))


async def unmatched(viewer: Viewer, source: str | None = None) -> dict:
    """Hosts the monitoring sends alerts for that no asset matches: add the asset,
    its management IP, or a `rackcard_asset` label on the alert."""
    if not viewer.is_staff:
        raise Forbidden("the unmatched-alert list is for staff")
    query = UnmatchedAlert.select().order_by(UnmatchedAlert.last_seen, ascending=False).limit(UNMATCHED_LIST_LIMIT)
    if source:
        if source not in PARSERS:
            raise Invalid(f"source must be one of {', '.join(PARSERS)}", field="source")
        query = query.where(UnmatchedAlert.source == source)
    rows = await query.output(load_json=True)
    return {
        "hosts": len(rows),
        "alerts": sum(r["count"] for r in rows),
        "results": [{k: r[k] for k in ("source", "host", "count", "last_alert", "labels", "first_seen", "last_seen")}
                    for r in rows],
    }
