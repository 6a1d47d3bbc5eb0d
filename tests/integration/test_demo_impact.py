"""The demo as a NOC meets it (issue 9), on real simulated agents (snmpsim, one
loopback address per device) and real traps (net-snmp's snmptrap):

- first polls of freshly "booted" devices and a restart of the simulator open
  no reboot incidents;
- the Khimki UPS goes on battery (its upsTrapOnBattery, from its own address):
  one incident at once, listing the three clients behind it as at risk before
  any of their equipment fails; one poll later the title carries the minutes left;
- a linkDown from one converter's address lands on that converter only; a trap
  from an address no device has is counted, never fanned out.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest

from accounts.viewer import SYSTEM, Viewer
from cmdb import demo
from cmdb.tables import Asset, Client
from incidents.checks import probe_targets, record_observations
from incidents.tables import AffectedAsset, AffectedClient, CheckEvent, Incident
from probes.simulator import free_udp_port, ups_rec
from probes.traps import TrapHandler, TrapReceiver
from probes.wire import ObservationBatch
from probes.worker import poll_once

pytestmark = pytest.mark.slow

PROBE = Viewer(user_id=None, email="probe:demo", role="probe", probe_name="demo")
ON_BATTERY = "1.3.6.1.2.1.33.2.1"
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"


async def _poll(targets) -> None:
    observations = []
    for target in targets:
        observations += await poll_once(target)
    await record_observations(ObservationBatch.new(observations, probe="demo"), PROBE)


async def _snmptrap(source: str, port: int, trap_oid: str, *varbinds: str) -> None:
    exe = shutil.which("snmptrap")
    assert exe, "net-snmp's snmptrap is needed (Debian package snmp)"
    process = await asyncio.create_subprocess_exec(
        exe, "-v2c", "-c", "public", f"--clientaddr={source}", f"127.0.0.1:{port}", "", trap_oid, *varbinds,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    assert await process.wait() == 0


async def test_demo_ups_on_battery_lists_its_clients_before_anything_fails(db, settings, monkeypatch):
    from rackcard.demo import _demo_snmp_agents

    monkeypatch.setenv("RACKCARD_DEMO_SNMP_PORT", str(free_udp_port()))
    await demo.seed_demo()
    targets = await probe_targets(SYSTEM)
    assert len({t.host for t in targets}) == len(targets)  # one address per device

    # first polls (the devices "booted" long ago or just now: no history, no reboot); then a simulator restart
    async with _demo_snmp_agents(settings):
        await _poll(targets)
    async with _demo_snmp_agents(settings) as (agent, _devices, _remote):
        await _poll(targets)
        assert await CheckEvent.count().where(CheckEvent.key == "reboot") == 0
        assert await Incident.count() == 0

        ups = next(t for t in targets if t.name == "ups-khimki")
        emitted: list = []
        handler = TrapHandler(emitted.append)
        handler.set_targets(targets)
        receiver = await TrapReceiver(handler, "127.0.0.1", free_udp_port()).start()
        try:
            # the UPS switches to battery and says so
            agent.write("ups-khimki", ups_rec("ups-khimki", source=5, minutes=12, uptime_ticks=None))
            await _snmptrap(ups.host, receiver.port, ON_BATTERY)
            for _ in range(100):
                if emitted:
                    break
                await asyncio.sleep(0.05)
            assert [(o.asset_id, o.key, o.state) for batch in emitted for o in batch] == [
                (ups.asset_id, "power:source", "critical")]
            await record_observations(ObservationBatch.new(emitted.pop(), probe="demo"), PROBE)

            (inc,) = await Incident.select()
            clients = {r["name"]: r["impact"] for r in await AffectedClient.select().where(
                AffectedClient.incident == inc["id"])}
            names = {r["id"]: r["name"] for r in await Client.select(Client.id, Client.name)}
            assert len(clients) == 3 and set(clients.values()) == {"at_risk"}, clients
            assert set(clients) <= set(names.values())
            roles = {r["name"]: r["role"] for r in await AffectedAsset.select().where(
                AffectedAsset.incident == inc["id"])}
            assert roles == {"ups-khimki": "root", "sw-khimki": "at_risk", "mc-khimki-1": "at_risk",
                             "mc-khimki-2": "at_risk", "mc-khimki-3": "at_risk"}
            assert inc["priority"] in ("P1", "P2")

            # one poll of the UPS: the minutes left are in the title; nothing downstream has failed
            await _poll([ups])
            title = (await Incident.select(Incident.title).first())["title"]
            assert title == "Khimki node on battery — 12 min left, 3 clients at risk"

            # a linkDown from one converter's own address: that converter only
            mc = next(t for t in targets if t.name == "mc-khimki-2")
            await _snmptrap(mc.host, receiver.port, LINK_DOWN, "1.3.6.1.2.1.2.2.1.1.2", "i", "2")
            # a trap from the old shared address: no device has it any more -> counted, dropped
            await _snmptrap("127.0.0.1", receiver.port, LINK_DOWN, "1.3.6.1.2.1.2.2.1.1.2", "i", "2")
            for _ in range(100):
                if handler.counters["received"] >= 3:
                    break
                await asyncio.sleep(0.05)
            assert [(o.asset_id, o.key) for batch in emitted for o in batch] == [(mc.asset_id, "link:2")]
            assert handler.counters["unknown_sender"] == 1
        finally:
            receiver.close()
    assert await Asset.count().where(Asset.mgmt_ip == "127.0.0.1") == 0
