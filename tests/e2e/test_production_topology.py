"""The production topology as processes (issue 16): PostgreSQL (a scratch
database on the running server), two `rackcard serve` web processes on two
ports with no embedded probe, two `rackcard probe` workers sharing one probe
token (one posts through each web process), real snmpsim agents: four
devices at a remote site, two UPSes in a datacenter behind a counting relay.

- The site goes silent (the agent is stopped with SIGSTOP): observations
  arrive through both web processes, one "site unreachable" incident opens.
- `kill -9` of a web process while both workers post, the same outage while
  it is down, then it is started again: the cut-off worker's spool replays,
  nothing is lost (every poll a datacenter UPS answered, counted by a relay
  in front of its agent, is one voltage sample), nothing is doubled (no
  sample twice, no batch twice), one incident.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from _processes import free_port, probe_worker, stop_all, until, wait_until_up
from integration._counting_relay import CountingRelay
from integration._probe_support import make_asset, make_site
from probes.simulator import SimAgent, media_converter_rec, ups_rec

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_url", ["pg"], indirect=True)]

DEVICES = ("edge-a", "edge-b", "edge-c", "edge-d")
UPSES = ("ups-1", "ups-2")
INTERVAL_S = 2
LEASE_S = 6


@pytest.fixture
def agents(tmp_path):
    """The remote site's agent (stopped by the tests), and a datacenter's UPS agent behind the counting relay."""
    edge, dc = SimAgent(root=tmp_path / "edge"), SimAgent(root=tmp_path / "dc")
    for name in DEVICES:
        edge.write(name, media_converter_rec(name))
    for name in UPSES:
        dc.write(name, ups_rec(name))
    edge.start(ready_timeout=60)
    dc.start(ready_timeout=60)
    relay = CountingRelay((dc.host, dc.port)).start()
    yield edge, relay
    relay.close()
    if edge.process is not None and edge.process.poll() is None:
        os.kill(edge.process.pid, signal.SIGCONT)
    edge.close()
    dc.close()


class Topology:
    """Web processes and probe workers started as an operator would, killed or stopped by the test."""

    def __init__(self, db_url: str, tmp_path: Path, token: str):
        self.tmp_path = tmp_path
        self.token = token
        self.env = {**os.environ, "RACKCARD_DATABASE_URL": db_url, "RACKCARD_SECRET_KEY": "t" * 40,
                    "RACKCARD_VAR_DIR": str(tmp_path / "var"), "RACKCARD_EMBEDDED_PROBE": "false",
                    "RACKCARD_PROBE_LEASE_S": str(LEASE_S), "RACKCARD_MIN_POLL_INTERVAL_S": str(INTERVAL_S),
                    "RACKCARD_HOLD_DOWN_POLLS": "2", "RACKCARD_LOG_LEVEL": "WARNING"}
        self.webs: dict[str, tuple[subprocess.Popen, str]] = {}
        self.workers: dict[str, subprocess.Popen] = {}

    def web(self, name: str, port: int | None = None) -> str:
        port = port or free_port()
        log = open(self.tmp_path / f"{name}.log", "ab")
        process = subprocess.Popen([sys.executable, "-m", "rackcard.cli", "serve", "--port", str(port), "--workers", "1"],
                                   env=self.env, stdout=log, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(process, f"{url}/readyz", timeout=90)
        except AssertionError:
            raise AssertionError((self.tmp_path / f"{name}.log").read_text()[-3000:]) from None
        self.webs[name] = (process, url)
        return url

    def spool(self, name: str) -> Path:
        return self.tmp_path / "spool" / name

    def worker(self, name: str, url: str) -> None:
        env = {**self.env, "RACKCARD_PROBE_TOKEN": self.token}
        self.workers[name] = probe_worker(name, url, env, self.spool(name), self.tmp_path / f"{name}.log", 0.5)

    async def start(self) -> tuple[str, str]:
        """Two web processes, a worker posting through each; back once both take observations."""
        web1, web2 = self.web("web1"), self.web("web2")
        self.worker("w1", web1)
        self.worker("w2", web2)
        await until(_balanced, 60, "the workers never split the devices")

        async def both_posting():
            return _posts(web1) > 0 and _posts(web2) > 0

        await until(both_posting, 30, "observations did not arrive through both web processes")
        return web1, web2

    def stop_workers(self) -> None:
        """SIGTERM: a worker flushes what it holds (to the server, or to its spool) and exits."""
        stop_all(self.workers.values())

    def close(self) -> None:
        self.stop_workers()
        stop_all([process for process, _ in self.webs.values()], signal.SIGINT)


async def _setup(db_url, tmp_path, edge: SimAgent, relay: CountingRelay) -> Topology:
    from accounts.services import create_token

    site = await make_site("edge")
    for name in DEVICES:
        await make_asset(site.id, name, "router", edge.host, edge.port, community=name, profile="generic",
                         poll_interval_s=INTERVAL_S)
    dc = await make_site("dc", kind="datacenter")
    for name in UPSES:
        await make_asset(dc.id, name, "ups", relay.host, relay.port, community=name, profile="ups",
                         poll_interval_s=INTERVAL_S)
    return Topology(db_url, tmp_path, await create_token(probe="edge"))


async def _balanced() -> bool:
    from incidents import leases

    return sorted((await leases.holders()).values()) == [3, 3]


def _posts(url: str) -> float:
    """Observation batches this web process took (its own request counter)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name.endswith("requests_total") and s.labels.get("path", "").endswith("/probe/observations"))


async def _open_incidents() -> list[dict]:
    from incidents.tables import Incident

    return await Incident.select(Incident.id, Incident.fingerprint, Incident.status)


async def _one_site_incident() -> list[dict]:
    incidents = await _open_incidents()
    return incidents if any(i["fingerprint"].startswith("site:") for i in incidents) else []


async def test_two_web_processes_two_workers_one_incident(db, db_url, tmp_path, agents):
    agent, relay = agents
    topology = await _setup(db_url, tmp_path, agent, relay)
    try:
        await topology.start()
        os.kill(agent.process.pid, signal.SIGSTOP)  # the whole site goes silent
        incidents = await until(_one_site_incident, 60, "no site incident")
        await asyncio.sleep(INTERVAL_S * 3)  # more silent polls through both processes: still one incident
        incidents = await _open_incidents()
        assert len(incidents) == 1 and incidents[0]["fingerprint"].startswith("site:"), incidents
    finally:
        os.kill(agent.process.pid, signal.SIGCONT)
        topology.close()


async def test_kill_9_of_a_web_process_loses_and_doubles_nothing(db, db_url, tmp_path, agents):
    from incidents.tables import ProbeBatch, Sample
    from cmdb.tables import Asset

    agent, relay = agents
    topology = await _setup(db_url, tmp_path, agent, relay)
    try:
        web1, _ = await topology.start()
        port1 = int(web1.rsplit(":", 1)[1])
        topology.webs["web1"][0].send_signal(signal.SIGKILL)  # mid-stream: w1 may be posting right now
        topology.webs["web1"][0].wait()

        async def w1_spooling():
            return any(topology.spool("w1").glob("*.json"))

        await until(w1_spooling, 30, "w1 did not spool while its web process was gone")
        os.kill(agent.process.pid, signal.SIGSTOP)  # the outage happens while web1 is down
        await asyncio.sleep(INTERVAL_S * 4)
        topology.web("web1", port1)  # started again on its port: w1's spool replays

        async def drained():
            return not any(topology.spool("w1").glob("*.json"))

        await until(drained, 60, "w1's spool did not drain")
        await until(_one_site_incident, 60, "no site incident")
        os.kill(agent.process.pid, signal.SIGCONT)
        await asyncio.sleep(INTERVAL_S * 2)
        topology.stop_workers()  # each flushes what it still holds
    finally:
        os.kill(agent.process.pid, signal.SIGCONT)
        topology.close()
    for name in ("w1", "w2"):
        assert not list(topology.spool(name).glob("*.json")), f"{name} left batches unsent"
        assert not list((topology.spool(name) / "rejected").glob("*")), f"{name} had batches refused"
    names = {r["id"]: r["name"] for r in await Asset.select(Asset.id, Asset.name)}
    samples = await Sample.select(Sample.asset, Sample.at).where(Sample.key == "power:input_voltage")
    per_device = Counter(names[s["asset"]] for s in samples)
    assert dict(per_device) == relay.answered_gets(), "every answered poll of a UPS is exactly one voltage sample"
    assert len({(s["asset"], s["at"]) for s in samples}) == len(samples), "a sample stored twice"
    batches = await ProbeBatch.select(ProbeBatch.batch_id)
    assert len({b["batch_id"] for b in batches}) == len(batches)
    incidents = await _open_incidents()
    assert len([i for i in incidents if i["fingerprint"].startswith("site:")]) == 1, incidents
    assert len({i["fingerprint"] for i in incidents}) == len(incidents), incidents
