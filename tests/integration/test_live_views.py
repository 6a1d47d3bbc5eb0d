"""incidents.live on a real database (both engines): the site topology with
each node's live state and marks, rack elevations with free units, where an
asset fits, and the asset overview (ports with link state, dependencies up
and down, impact, samples) — through the API as the pages will use them."""

from __future__ import annotations

import datetime as dt

from cmdb_seed import seed

from accounts.viewer import SYSTEM, Viewer
from cmdb import services as s
from incidents import live
from incidents.checks import record_observations
from probes.wire import Observation, ObservationBatch

PROBE = Viewer(user_id=None, email="probe:test", role="probe", probe_name="test")


async def _observe(*items: tuple[int, str, str], number: float | None = None, at: dt.datetime | None = None) -> None:
    at = at or dt.datetime.now(dt.timezone.utc)
    batch = ObservationBatch.new(
        [Observation(a, key, state, at.isoformat(), source="trap", number=number) for a, key, state in items], probe="test")
    await record_observations(batch, PROBE, now=at)


async def test_site_topology_shows_live_state_marks_and_client_ports(db, api):
    ids = await seed()
    await s.interfaces.create(SYSTEM, {"asset_id": ids["mc-acme"], "if_index": 3, "name": "slot_1_fx", "role": "fiber",
                                       "client_id": ids["acme"]})
    await _observe((ids["mc-acme"], "reachability", "ok"), (ids["mc-acme"], "link:3", "warning"),
                   (ids["mc-globex"], "reachability", "ok"))
    await _observe((ids["ups-remote-7"], "power:source", "critical"))  # a trap: on battery, confirmed at once

    response = await api.get(f"/api/v1/sites/{ids['remote']}/topology")
    assert response.status_code == 200, response.text
    body = response.json()
    nodes = {n["key"]: n for n in body["nodes"]}
    ups, mc_acme, mc_globex = (nodes[f"asset-{ids[n]}"] for n in ("ups-remote-7", "mc-acme", "mc-globex"))
    assert ups["state"] == "critical" and "root" in ups["marks"]
    assert mc_acme["state"] == "warning"  # its worst check
    assert mc_globex["state"] == "ok" and mc_globex["marks"]  # hangs on the UPS: impacted or at risk
    core = nodes[f"asset-{ids['core-sw']}"]
    assert core["outside"] and core["site_name"] == "DC One"  # the uplink lives at another site
    port = next(n for n in body["nodes"] if n["type"] == "port")
    assert port["client_name"] == "Acme Holdings" and port["state"] == "warning" and port["if_index"] == 3
    assert {"from": port["key"], "to": f"asset-{ids['mc-acme']}", "kind": "uplink"} in body["edges"]
    assert {"from": f"asset-{ids['mc-acme']}", "to": f"asset-{ids['ups-remote-7']}", "kind": "power"} in body["edges"]
    assert (await api.get("/api/v1/sites/999999/topology")).status_code == 404


async def test_rack_elevation_and_free_units(db, api):
    ids = await seed()
    await _observe((ids["srv-globex"], "reachability", "critical"))
    body = (await api.get(f"/api/v1/racks/{ids['r2']}/elevation")).json()
    placed = {a["name"]: a for a in body["assets"]}
    assert placed["srv-acme-1"]["position_u"] == 1 and placed["srv-acme-1"]["height_u"] == 2
    assert placed["srv-globex"]["state"] == "critical" and placed["srv-acme-1"]["state"] == "unknown"
    assert body["free"] == [[3, 4], [6, 42]] and body["free_u"] == 39
    racks = (await api.get(f"/api/v1/sites/{ids['dc']}/racks")).json()
    assert [r["name"] for r in racks] == ["R1", "R2"]

    space = (await api.get(f"/api/v1/racks/{ids['r2']}/space", params={"height_u": 2})).json()
    assert space["positions"][:3] == [3, 6, 7] and 4 not in space["positions"]
    moving = (await api.get(f"/api/v1/racks/{ids['r2']}/space",
                            params={"height_u": 2, "asset_id": ids["srv-acme-1"]})).json()
    assert moving["positions"][:3] == [1, 2, 3]  # its own units count as free
    assert (await api.get(f"/api/v1/racks/{ids['r2']}/space", params={"height_u": 0})).status_code == 422


async def test_asset_overview_has_ports_dependencies_impact_and_samples(db, api):
    ids = await seed()
    await s.interfaces.create(SYSTEM, {"asset_id": ids["mc-globex"], "if_index": 2, "name": "fx", "role": "fiber",
                                       "client_id": ids["globex"]})
    now = dt.datetime.now(dt.timezone.utc)
    for minutes, volts in ((30, 229.0), (20, 231.0), (10, 0.0)):
        await _observe((ids["ups-remote-7"], "power:input_voltage", "ok"), number=volts,
                       at=now - dt.timedelta(minutes=minutes))
    body = (await api.get(f"/api/v1/assets/{ids['ups-remote-7']}/overview")).json()
    assert body["asset"]["name"] == "ups-remote-7" and body["asset"]["site_name"] == "Remote Node 7"
    assert [p["value"] for p in body["samples"]["power:input_voltage"]] == [229.0, 231.0, 0.0]
    assert {d["name"] for d in body["downstream"]} == {"mc-acme", "mc-globex"}
    assert all(d["edge"] == "power" and d["depth"] == 1 for d in body["downstream"])
    assert {c["name"] for c in body["impact"]["clients"]} == {"Acme Holdings", "Globex Corp"}
    assert body["impact"]["assets"] == 2

    mc = (await api.get(f"/api/v1/assets/{ids['mc-acme']}/overview")).json()
    up = {d["name"]: d for d in mc["upstream"]}
    assert set(up) == {"ups-remote-7", "core-sw", "pdu-dc"}
    assert up["pdu-dc"]["depth"] == 2 and up["pdu-dc"]["through_id"] == ids["core-sw"]
    globex_mc = (await api.get(f"/api/v1/assets/{ids['mc-globex']}/overview")).json()
    assert globex_mc["interfaces"][0]["client_name"] == "Globex Corp" and globex_mc["interfaces"][0]["link_state"] is None
    assert (await api.get("/api/v1/assets/999999/overview")).status_code == 404
