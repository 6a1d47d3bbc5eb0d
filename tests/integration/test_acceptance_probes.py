"""Acceptance (issue 3) on both engines: `rackcard demo` starts simulated
agents that answer for every polled demo asset, and numeric samples are kept
for a bounded time (retention)."""

from __future__ import annotations

import asyncio
import socket

from _probe_support import fast_poller, poll

from accounts.viewer import Viewer
from incidents import checks

PROBE = Viewer(user_id=None, email="probe:test", role="probe", probe_name="test")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_demo_starts_simulated_agents_that_answer_for_every_polled_asset(db, settings, monkeypatch):
    from rackcard.demo import demo_context

    monkeypatch.setenv("RACKCARD_DEMO_SNMP_PORT", str(_free_udp_port()))
    async with demo_context(settings):
        targets = await checks.probe_targets(PROBE)
        kinds = {t.kind for t in targets}
        assert {"media_converter", "ups"} <= kinds, kinds
        poller = fast_poller()
        seen = await asyncio.gather(*(poll(poller, t) for t in targets))
    states = {t.name: s["reachability"].state for t, s in zip(targets, seen)}
    assert set(states.values()) == {"ok"}, states
    ups = [s for t, s in zip(targets, seen) if t.kind == "ups"]
    assert all(s["power:source"].state == "ok" for s in ups)


async def test_a_worker_for_one_site_polls_only_that_sites_assets(db, app, tmp_path):
    from _probe_support import LiveServer, make_asset, make_site

    from accounts.services import create_token
    from probes.worker import Worker, WorkerConfig
    from rackcard.cli import build_parser

    remote, dc = await make_site("rs1"), await make_site("dc1", kind="datacenter")
    mine = await make_asset(remote.id, "mc-rs1", "media_converter", "127.0.0.1", 161, poll_interval_s=45)
    await make_asset(dc.id, "ups-dc1", "ups", "127.0.0.1", 161)
    args = build_parser().parse_args(["probe", "--site", "rs1"])
    assert args.site == "rs1"
    server = LiveServer(app)
    await server.start()
    try:
        token = await create_token(probe="edge")  # not site-limited: --site alone narrows it
        worker = Worker(WorkerConfig(server=server.url, token=token, spool_dir=tmp_path / "spool", site=args.site,
                                     probe="edge", trap_host=None))
        assert await worker.refresh_targets()
        assert list(worker.scheduler.targets) == [mine.id]
        assert worker.scheduler.targets[mine.id].interval_s == 45  # the asset's own interval
        everything = Worker(WorkerConfig(server=server.url, token=token, spool_dir=tmp_path / "spool2",
                                         probe="edge", trap_host=None))
        assert await everything.refresh_targets()
        assert len(everything.scheduler.targets) == 2
    finally:
        await server.stop()
