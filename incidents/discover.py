"""Interface discovery on the server: walk an asset's agent (from this process,
like "poll now"), propose its ports, and store the ports an engineer picks —
by name — as interfaces carrying the ifName/ifDescr that later polls verify.

`discover_asset(asset_id, viewer, picks)`:
- without picks: the proposals, each with the interface already stored at
  that ifIndex (and whether its stored name still matches);
- with picks [{"name": "slot_1_fx", "role": "fiber", "client_id": 3}, ...]:
  each named port becomes (or updates) the interface at the ifIndex the
  device gives it now, through the CMDB's own service (validated, audited).
"""

from __future__ import annotations

from database.transactions import atomic
from accounts.errors import Forbidden, Invalid
from accounts.viewer import SYSTEM, Viewer
from cmdb import services as cmdb
from cmdb.tables import Interface
from incidents.checks import _asset_exists, probe_targets


async def discover_asset(asset_id: int, viewer: Viewer, picks: list | None = None) -> dict:
    if not viewer.is_staff:
        raise Forbidden("discovery is for staff")
    await _asset_exists(asset_id)
    if picks is not None and not isinstance(picks, list):
        raise Invalid("picks must be a list of {name, role, client_id}", field="picks")
    from probes.discovery import discover
    from probes.worker import default_poller

    targets = await probe_targets(SYSTEM, asset_id=asset_id)
    if not targets:
        raise Invalid("this asset is not polled: it needs a management IP, SNMP settings and status active",
                      field="snmp_version")
    result, ports = await discover(targets[0], default_poller())
    if result.status != "ok":
        raise Invalid(f"discovery failed: {result.message}", field="mgmt_ip")
    stored = {r["if_index"]: r for r in await Interface.select().where(Interface.asset == asset_id)}
    created, updated = [], []
    if picks:
        by_name = {p.name: p for p in ports} | {p.if_descr: p for p in ports if p.if_descr and p.if_descr not in {q.name for q in ports}}
        async with atomic():  # all picks or none
            for i, pick in enumerate(picks):
                where = f"picks[{i}]"
                if not isinstance(pick, dict) or not isinstance(pick.get("name"), str):
                    raise Invalid("each pick needs the port's name", field=f"{where}.name")
                port = by_name.get(pick["name"])
                if port is None:
                    raise Invalid(f"the device has no port named {pick['name']!r}", field=f"{where}.name")
                data = {"if_name": port.if_name, "if_descr": port.if_descr[:255],
                        "name": pick.get("label") or port.name, "role": pick.get("role") or port.role}
                if "client_id" in pick:
                    data["client_id"] = pick["client_id"]
                existing = stored.get(port.if_index)
                if existing is None:
                    row = await cmdb.interfaces.create(viewer, {"asset_id": asset_id, "if_index": port.if_index, **data})
                    created.append(row["id"])
                else:
                    await cmdb.interfaces.update(viewer, existing["id"], data)
                    updated.append(existing["id"])
        stored = {r["if_index"]: r for r in await Interface.select().where(Interface.asset == asset_id)}
    out = []
    for port in ports:
        row = stored.get(port.if_index)
        entry = port.to_dict()
        if row is not None:
            expected = row["if_name"] or row["if_descr"]
            entry["interface"] = {"id": row["id"], "name": row["name"], "role": row["role"], "client_id": row["client"],
                                  "if_name": row["if_name"],
                                  "matches": not expected or expected in (port.if_name, port.if_descr)}
        else:
            entry["interface"] = None
        out.append(entry)
    return {"asset_id": asset_id, "ports": out, "created": created, "updated": updated}
