"""Acceptance (issue 16, leases): two `rackcard probe` worker processes, one
probe token, 200 targets on a real snmpsim agent, 10 short intervals — every
target is polled exactly once per interval, by one worker; one worker killed →
the other takes its targets within one lease time.

Polls are counted on the agent side: a counting UDP relay in front of snmpsim
records every GET (device = community, request id, source port) and the
worker processes' UDP ports tell who sent it. "Exactly once per interval" is
checked on each target's own polls: at least 11 in the window (10 intervals),
no two of them less than half an interval apart (polled twice in one
interval) nor two intervals apart (an interval skipped). A late poll on this
shared machine is neither, so the bounds leave it room."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import time
from collections import defaultdict

import pytest

from _counting_relay import GET_PDU, CountingRelay, udp_ports_of
from e2e._processes import probe_worker, stop_all, until
from _probe_support import make_site
from probes.simulator import SimAgent, media_converter_rec

pytestmark = pytest.mark.slow

TARGETS = 200
INTERVAL_S = 3
LEASE_S = 12  # granted for 9 s, renewed every 3: room for a worker slowed by a loaded CI machine
INTERVALS = 10


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, probe_lease_s=LEASE_S, min_poll_interval_s=INTERVAL_S)


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    agent = SimAgent(root=tmp_path_factory.mktemp("snmpsim200"))
    for i in range(TARGETS):
        agent.write(f"dev{i:03d}", media_converter_rec(f"dev{i:03d}"))
    agent.start(ready_timeout=60)
    relay = CountingRelay((agent.host, agent.port)).start()
    yield relay
    relay.close()
    agent.close()


async def _targets(relay: CountingRelay) -> dict[str, int]:
    from cmdb.tables import Asset

    site = await make_site("edge1")
    rows = [Asset(name=f"dev{i:03d}", name_norm=f"dev{i:03d}", kind="router", site=site.id, mgmt_ip=relay.host,
                  snmp_port=relay.port, snmp_version="2c", snmp_community=f"dev{i:03d}", profile="generic",
                  poll_interval_s=INTERVAL_S, serial=f"SN-L{i:03d}", serial_norm=f"sn-l{i:03d}")
            for i in range(TARGETS)]
    await Asset.insert(*rows)
    return {r["name"]: r["id"] for r in await Asset.select(Asset.id, Asset.name)}


def _worker(name: str, url: str, token: str, tmp_path) -> subprocess.Popen:
    env = dict(os.environ, RACKCARD_PROBE_TOKEN=token, RACKCARD_VAR_DIR=str(tmp_path / "var"),
               RACKCARD_LOG_LEVEL="WARNING")
    return probe_worker(name, url, env, tmp_path / name, tmp_path / f"{name}.log")


def _polls(relay: CountingRelay, since: float) -> dict[str, list]:
    """GETs per device since `since`, a retry of one request counted once."""
    seen, polls = set(), defaultdict(list)
    for r in relay.since(since):
        if r.pdu == GET_PDU and (r.source, r.request_id) not in seen:
            seen.add((r.source, r.request_id))
            polls[r.community].append(r)
    return polls


async def test_two_workers_poll_each_target_once_per_interval_and_take_over_a_dead_ones(
        db, app, live_app, relay, tmp_path):
    from accounts.services import create_token
    from incidents import leases

    await _targets(relay)
    token = await create_token(probe="edge1")
    workers = {name: _worker(name, live_app.url, token, tmp_path) for name in ("w1", "w2")}
    try:
        async def balanced():
            held = await leases.holders()
            return len(held) == 2 and sorted(held.values()) == [TARGETS // 2, TARGETS // 2] and held

        held = await until(balanced, 90, "the two workers never split the targets")
        # Past the handover: the taker's first polls of what it took are spread over one interval.
        await asyncio.sleep(INTERVAL_S * 1.5)
        ports = {name: udp_ports_of(p.pid) for name, p in workers.items()}
        owner = {port: name for name, found in ports.items() for port in found}
        start = time.monotonic()

        async def ten_intervals():
            polls = _polls(relay, start)
            return len(polls) == TARGETS and all(len(p) >= INTERVALS + 1 for p in polls.values()) and polls

        polls = await until(ten_intervals, INTERVALS * INTERVAL_S * 1.5 + 20, "not every target was polled 11 times")
        by_worker: dict[str, set[str]] = defaultdict(set)
        for device, seen in polls.items():
            pollers = {owner.get(r.source[1], f"port {r.source[1]}") for r in seen}
            assert len(pollers) == 1, f"{device} polled by {pollers}"
            by_worker[pollers.pop()].add(device)
            gaps = [b.at - a.at for a, b in zip(seen, seen[1:])]
            assert all(INTERVAL_S * 0.5 < g < INTERVAL_S * 2 for g in gaps), f"{device}: gaps {gaps}"
        assert sorted(len(d) for d in by_worker.values()) == [TARGETS // 2, TARGETS // 2], by_worker.keys()

        # w1 dies: within one lease (and w2's next fetch) w2 holds and polls all of w1's targets.
        killed = time.monotonic()
        workers["w1"].send_signal(signal.SIGKILL)
        workers["w1"].wait()
        survivor = next(h for h in held if "/w2@" in h)

        async def taken_over():
            return (await leases.holders()).get(survivor) == TARGETS

        # one lease, plus a second for w2's fetch to come back on this shared machine
        await until(taken_over, LEASE_S + 1, f"w2 did not take w1's targets within a lease ({LEASE_S} s)")
        took = time.monotonic() - killed
        w2_ports = udp_ports_of(workers["w2"].pid)

        async def w2_polls_all():
            polls = _polls(relay, killed + took)
            return all(any(r.source[1] in w2_ports for r in polls.get(d, ())) for d in by_worker["w1"])

        await until(w2_polls_all, INTERVAL_S * 2 + 5, "w2 did not poll w1's targets after taking them")
        print(f"\nhandover after kill -9: {took:.1f} s (lease {LEASE_S} s, interval {INTERVAL_S} s)")
    finally:
        stop_all(workers.values(), timeout=10)
