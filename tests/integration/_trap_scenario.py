"""Trap -> check state while the worker is busy polling agents that go silent
and come back: shared by tests/integration/test_probe_live.py (order and
completeness) and bench/trap_latency.py (the figures)."""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from _probe_support import make_asset, make_site
from probes.simulator import SimAgent, free_udp_port, media_converter_rec
from probes.worker import Worker, WorkerConfig

DEVICE_IP = "127.0.4.1"  # the trap sender
FLAKY_IP = "127.0.4.2"  # agents that go silent and come back
SILENT_IP = "127.0.4.3"  # nothing answers here


@dataclass
class TrapRun:
    latencies_ms: list[float] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # link:2 states in CheckEvent order
    polls: int = 0
    unanswered: int = 0


async def snmptrap(source: str, port: int, if_index: int, up: bool) -> None:
    exe = shutil.which("snmptrap")
    assert exe, "net-snmp's snmptrap is needed (Debian package snmp)"
    trap_oid = "1.3.6.1.6.3.1.1.5.4" if up else "1.3.6.1.6.3.1.1.5.3"
    process = await asyncio.create_subprocess_exec(
        exe, "-v2c", "-c", "public", f"--clientaddr={source}", f"127.0.0.1:{port}", "", trap_oid,
        f"1.3.6.1.2.1.2.2.1.1.{if_index}", "i", str(if_index),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    assert await process.wait() == 0


async def run(server_url: str, token: str, root: Path, traps: int = 50, flaky_devices: int = 5,
              silent_devices: int = 5, spacing_s: float = 0.3) -> TrapRun:
    from incidents.tables import CheckEvent, CheckState

    device = SimAgent(root=root / "device", host=DEVICE_IP)
    device.write("mc-trap", media_converter_rec("mc-trap"))
    flaky = SimAgent(root=root / "flaky", host=FLAKY_IP)
    for n in range(flaky_devices):
        flaky.write(f"flaky{n}", media_converter_rec(f"flaky{n}"))
    await asyncio.to_thread(device.start)
    await asyncio.to_thread(flaky.start)
    site = await make_site("trap")
    mc = await make_asset(site.id, "mc-trap", "media_converter", DEVICE_IP, device.port, community="mc-trap",
                          interfaces=[(1, "copper", "slot_1_tp"), (2, "fiber", "slot_1_fx")], poll_interval_s=600)
    for n in range(flaky_devices):
        await make_asset(site.id, f"flaky{n}", "media_converter", FLAKY_IP, flaky.port, community=f"flaky{n}",
                         interfaces=[(1, "copper", "slot_1_tp"), (2, "fiber", "slot_1_fx")], poll_interval_s=5)
    for n in range(silent_devices):
        await make_asset(site.id, f"silent{n}", "ups", SILENT_IP, 16100 + n, community=f"silent{n}", poll_interval_s=5)
    trap_port = free_udp_port()
    worker = Worker(WorkerConfig(server=server_url, token=token, spool_dir=root / "spool", probe="bench",
                                 trap_host="127.0.0.1", trap_port=trap_port, timeout_s=1.0, retries=1))
    task = asyncio.create_task(worker.run())
    out = TrapRun()

    async def link_state():
        row = await CheckState.select(CheckState.state).where(
            (CheckState.asset == mc.id) & (CheckState.key == "link:2")).first()
        return row["state"] if row else None

    try:
        while await link_state() is None:  # the worker's first poll of the device
            await asyncio.sleep(0.05)
        for i in range(traps):
            await asyncio.sleep(spacing_s)  # traps spread over the polls (silent agents take 2 s each)
            if i % 10 == 5:  # the flaky agents go silent, or come back, between traps
                if flaky.running:
                    await asyncio.to_thread(flaky.stop)
                else:
                    await asyncio.to_thread(flaky.start)
            up = i % 2 == 1
            want = "ok" if up else "critical"
            started = time.perf_counter()
            await snmptrap(DEVICE_IP, trap_port, 2, up)
            while await link_state() != want:
                if time.perf_counter() - started > 30:
                    raise AssertionError(f"trap {i} never reached the check state")
                await asyncio.sleep(0.005)
            out.latencies_ms.append((time.perf_counter() - started) * 1000)
        rows = await CheckEvent.select(CheckEvent.to_state).where(
            (CheckEvent.asset == mc.id) & (CheckEvent.key == "link:2")).order_by(CheckEvent.at).order_by(CheckEvent.id)
        out.events = [r["to_state"] for r in rows]
        out.polls = worker.scheduler.counters["polls"]
        out.unanswered = worker.scheduler.counters["unanswered"]
    finally:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
        await asyncio.to_thread(device.close)
        await asyncio.to_thread(flaky.close)
    return out
