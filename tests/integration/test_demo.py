"""Demo data: the expected counts, idempotent, the SNMP convention the demo
agents rely on, the remote site hanging on its UPS, and a working demo login."""

from __future__ import annotations

import logging

from accounts.services import authenticate_password
from cmdb import demo
from cmdb.services import BY_PATH
from cmdb.tables import Asset, Client, Dependency, Interface, Site

#: Every list the API serves, named as in demo.expected_counts(): the demo seeds them all.
TABLES = {path.replace("-", "_"): service.table for path, service in BY_PATH.items()}


async def _counts() -> dict[str, int]:
    return {name: await table.count() for name, table in TABLES.items()}


async def test_seed_creates_the_demo_operator_once(db):
    first = await demo.seed_demo()
    assert first.seeded
    counts = await _counts()
    assert counts == demo.expected_counts() == first.counts
    assert counts["sites"] == 3 and counts["clients"] == 10 and counts["contacts"] >= 10
    again = await demo.seed_demo()
    assert not again.seeded and again.admin_password is None
    assert await _counts() == counts


async def test_no_seed_into_a_database_that_has_clients(db):
    from accounts.viewer import SYSTEM
    from cmdb import services

    await services.clients.create(SYSTEM, {"code": "OWN", "name": "Our own client"})
    assert not (await demo.seed_demo()).seeded
    assert await Client.count() == 1 and await Asset.count() == 0


async def test_polled_demo_assets_follow_the_snmp_convention(db, monkeypatch):
    monkeypatch.setenv("RACKCARD_DEMO_SNMP_PORT", "12161")
    await demo.seed_demo()
    polled = await Asset.select().where(Asset.snmp_version.is_not_null())
    kinds = {a["kind"] for a in polled}
    assert {"media_converter", "switch", "router", "ups"} <= kinds
    for asset in polled:
        assert asset["mgmt_ip"].startswith("127.0.11.")
        assert (asset["snmp_port"], asset["snmp_version"]) == (12161, "2c")
        assert asset["snmp_community"] == asset["name"]
    assert len({a["snmp_community"] for a in polled}) == len(polled)
    assert len({a["mgmt_ip"] for a in polled}) == len(polled)  # a trap's sender names one device


async def test_remote_site_devices_hang_on_its_ups_and_uplink(db):
    await demo.seed_demo()
    remote = await Site.objects().where(Site.kind == "remote").first()
    ups = await Asset.objects().where((Asset.site == remote.id) & (Asset.kind == "ups")).first()
    others = await Asset.select(Asset.id).where((Asset.site == remote.id) & (Asset.id != ups.id))
    powered = {r["asset"] for r in await Dependency.select(Dependency.asset).where(
        (Dependency.depends_on == ups.id) & (Dependency.kind == "power"))}
    assert powered == {r["id"] for r in others}
    uplinked = {r["asset"] for r in await Dependency.select(Dependency.asset).where(Dependency.kind == "uplink")}
    assert {r["id"] for r in others} <= uplinked
    # media converter ports are assigned to clients, fiber and copper
    roles = {r["role"] for r in await Interface.select(Interface.role).where(Interface.client.is_not_null())}
    assert roles == {"fiber", "copper"}


async def test_demo_admin_can_log_in_and_use_the_api(db, app):
    import httpx

    result = await demo.seed_demo()
    assert result.admin_email == "admin@demo.local" and result.admin_password and result.admin_token
    assert await authenticate_password(result.admin_email, result.admin_password) is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 headers={"Authorization": f"Bearer {result.admin_token}"}) as client:
        response = await client.get("/api/v1/clients", params={"limit": 100})
        assert response.status_code == 200
        assert response.json()["count"] == 10


async def test_announce_logs_the_login_once_and_keeps_the_password(db, tmp_path, caplog):
    from rackcard.demo import CREDENTIALS_FILE, announce

    result = await demo.seed_demo()
    with caplog.at_level(logging.INFO, logger="rackcard.demo"):
        announce(result, tmp_path, "http://127.0.0.1:8000")
    assert result.admin_token in caplog.text and result.admin_password in caplog.text
    saved = (tmp_path / CREDENTIALS_FILE).read_text()
    assert result.admin_password in saved and result.admin_token not in saved
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rackcard.demo"):
        announce(await demo.seed_demo(), tmp_path, "http://127.0.0.1:8000")
    assert "already present" in caplog.text and result.admin_password not in caplog.text
