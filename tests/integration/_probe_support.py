"""Shared helpers for the probe tests: a real snmpsim agent, targets, CMDB rows."""

from __future__ import annotations

import asyncio
import socket
import uuid

import uvicorn

from probes.profiles import builtin_profiles, profile_for
from probes.interpret import interpret, oids_of, plan
from probes.simulator import SimAgent, V3User, media_converter_rec, ups_rec
from probes.snmp import SnmpPoller
from probes.wire import Target, TargetInterface, utcnow

V3 = V3User(user="rcuser", auth_key="authpass123", priv_key="privpass123")
PROFILES = builtin_profiles()
MC_INTERFACES = (TargetInterface(1, "copper", "slot_1_tp"), TargetInterface(2, "fiber", "slot_1_fx"))


def start_agent(tmp_path_factory, mcs=("mc1", "mc2", "mc3", "mc4"), upses=("ups1", "ups2", "ups3")) -> SimAgent:
    """snmpsim finds its recordings at start-up only: write every device first."""
    agent = SimAgent(root=tmp_path_factory.mktemp("snmpsim"), v3=V3)
    for name in mcs:
        agent.write(name, media_converter_rec(name))
    for name in upses:
        agent.write(name, ups_rec(name))
    return agent.start()


def mc_target(agent: SimAgent, community: str = "mc1", asset_id: int = 1, **kw) -> Target:
    return Target(asset_id=asset_id, name=community, kind="media_converter", host=agent.host, port=agent.port,
                  version="2c", community=community, interfaces=MC_INTERFACES, **kw)


def ups_target(agent: SimAgent, community: str = "ups1", asset_id: int = 2) -> Target:
    return Target(asset_id=asset_id, name=community, kind="ups", host=agent.host, port=agent.port,
                  version="2c", community=community)


def fast_poller() -> SnmpPoller:
    # Short enough that a silent agent costs little, long enough that snmpsim on a
    # busy 2-core machine answers in time (0.3 s timed out under load).
    return SnmpPoller(timeout=1.0, retries=1)


async def poll(poller: SnmpPoller, target: Target) -> dict:
    planned = plan(target, profile_for(target.kind, target.profile, PROFILES))
    result = await poller.get(target, oids_of(planned))
    return {o.key: o for o in interpret(target, planned, result, utcnow().isoformat())}


async def poll_until(poller, target, key, state, attempts: int = 30):
    """snmpsim re-reads a changed recording on its next request; allow a few polls."""
    seen = None
    for _ in range(attempts):
        seen = await poll(poller, target)
        if key in seen and seen[key].state == state:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"{key} never became {state}: {seen.get(key) if seen else None}")


async def make_site(code: str = "rs1", kind: str = "remote"):
    from cmdb.tables import Site

    site = Site(code=code, name=f"Site {code}", name_norm=f"site {code}", kind=kind)
    await site.save()
    return site


async def make_asset(site_id: int, name: str, kind: str, host: str, port: int, community: str | None = None,
                     interfaces=(), **kw):
    from cmdb.tables import Asset, Interface

    asset = Asset(name=name, name_norm=name.lower(), kind=kind, site=site_id, mgmt_ip=host, snmp_port=port,
                  snmp_version=kw.pop("snmp_version", "2c"), snmp_community=community if community is not None else name,
                  serial=f"SN-{uuid.uuid4().hex[:8]}", **kw)
    asset.serial_norm = asset.serial.lower()
    await asset.save()
    for if_index, role, label in interfaces:
        await Interface(asset=asset.id, if_index=if_index, name=label, role=role).save()
    return asset


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The app under uvicorn on a fixed loopback port, stoppable and restartable."""

    def __init__(self, app):
        self.app = app
        self.port = _free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = None
        self._task = None

    async def start(self):
        # A stop cancels what still runs after a second (a worker's long poll would hold it 30 s).
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.02)

    async def stop(self):
        if self._server is not None:
            self._server.should_exit = True
            await self._task
            self._server = None


async def wait_until(predicate, attempts=100, delay=0.05):
    for _ in range(attempts):
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(delay)
    raise AssertionError("condition never became true")
