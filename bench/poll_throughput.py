"""Poll throughput: rackcard's poller vs a loop running `snmpget` once per device.

N simulated devices = one net-snmp `snmpd` answering on N loopback addresses
(127.0.x.y; snmpsim is too slow to be the agent in a load test). Each device is
polled with the media-converter profile (sysUpTime + ifOperStatus/ifAdminStatus
of two ports: 5 OIDs in one GET) and interpreted into observations.

The pollers run pinned to CPU 0 and snmpd to CPU 1 (when there are two), so
"devices/s" is what one core of poller does. CPU per poll is the poller's own
CPU time (for the snmpget loop: its children's) divided by the polls.

    python bench/poll_throughput.py [--devices 2000] [--snmpget-devices 300] [--in-flight 64]

Prints a Markdown block; --record appends it to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _results import append_run, machine  # noqa: E402  (bench/ is the script's directory)
from probes.interpret import interpret, oids_of, plan  # noqa: E402
from probes.profiles import builtin_profiles  # noqa: E402
from probes.snmp import SnmpPoller  # noqa: E402
from probes.wire import Target, TargetInterface, utcnow  # noqa: E402

PORT = 16161
OIDS_CLI = ["1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.2.2.1.8.1", "1.3.6.1.2.1.2.2.1.7.1",
            "1.3.6.1.2.1.2.2.1.8.2", "1.3.6.1.2.1.2.2.1.7.2"]
QUIET_MIBS = {"MIBS": "", "MIBDIRS": "/nonexistent"}


def addresses(n: int) -> list[str]:
    return [f"127.0.{10 + i // 250}.{1 + i % 250}" for i in range(n)]


def start_snmpd(hosts: list[str], workdir: Path, per_process: int = 250) -> list[subprocess.Popen]:
    """snmpd processes answering on `hosts` (net-snmp looks a reply's socket up among
    all of its sockets, so one process per `per_process` addresses keeps it cheap)."""
    exe = shutil.which("snmpd") or "/usr/sbin/snmpd"
    conf = workdir / "snmpd.conf"
    # Listening addresses go on the command line: a config line is cut at a few KB,
    # and a second agentaddress line replaces the first.
    conf.write_text("rocommunity public default\n")
    env = dict(os.environ, **QUIET_MIBS)
    processes = []
    for n, first in enumerate(range(0, len(hosts), per_process)):
        group = hosts[first:first + per_process]
        cmd = [exe, "-f", "-Lf", str(workdir / f"snmpd{n}.log"), "-C", "-c", str(conf), "-p", str(workdir / f"pid{n}"),
               "-I", "-smux,mteTrigger,mteTriggerConf", ",".join(f"udp:{h}:{PORT}" for h in group)]
        if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
            cmd = ["taskset", "-c", "1"] + cmd
        processes.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 30
    pending = [hosts[first:first + per_process][-1] for first in range(0, len(hosts), per_process)]
    while pending and time.monotonic() < deadline:
        probe = subprocess.run(["snmpget", "-v2c", "-c", "public", "-t", "0.5", "-r", "0", f"{pending[0]}:{PORT}",
                                OIDS_CLI[0]], env=env, capture_output=True)
        if probe.returncode == 0:
            pending.pop(0)
        else:
            time.sleep(0.2)
    if pending:
        for p in processes:
            p.kill()
        raise SystemExit("snmpd did not start: " + (workdir / "snmpd0.log").read_text()[-1000:])
    return processes


async def run_poller(hosts: list[str], in_flight: int, timeout: float) -> dict:
    profiles = builtin_profiles()
    targets = [Target(asset_id=i, name=h, kind="media_converter", host=h, port=PORT, community="public",
                      interfaces=(TargetInterface(1, "copper"), TargetInterface(2, "fiber"))) for i, h in enumerate(hosts)]
    poller = SnmpPoller(timeout=timeout, retries=1, max_in_flight=in_flight)
    planned = {t.asset_id: plan(t, profiles["media_converter"]) for t in targets}

    async def one(t: Target):
        result = await poller.get(t, oids_of(planned[t.asset_id]))
        return interpret(t, planned[t.asset_id], result, utcnow().isoformat())

    rounds = []
    # Round 1 is the first contact (the agents fill their caches, the poller its
    # transport table); round 2 is the steady state a worker polling every
    # interval lives in. Both are reported.
    for _ in range(2):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(*(one(t) for t in targets))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        ok = sum(1 for r in results if r[0].key == "reachability" and r[0].state == "ok")
        rounds.append({"devices": len(hosts), "ok": ok, "wall": wall, "cpu": cpu})
    return rounds


def run_snmpget_loop(hosts: list[str], timeout: float) -> dict:
    env = dict(os.environ, **QUIET_MIBS)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ok = 0
    wall0 = time.perf_counter()
    for h in hosts:
        r = subprocess.run(["snmpget", "-v2c", "-c", "public", "-t", str(timeout), "-r", "1", "-On", f"{h}:{PORT}",
                            *OIDS_CLI], env=env, capture_output=True)
        ok += r.returncode == 0
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"devices": len(hosts), "ok": ok, "wall": wall, "cpu": cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000, help="devices polled by rackcard's poller")
    parser.add_argument("--snmpget-devices", type=int, default=300, help="devices polled by the snmpget loop")
    parser.add_argument("--in-flight", type=int, default=64, help="poller's bound on requests in flight")
    parser.add_argument("--per-snmpd", type=int, default=250, help="loopback addresses per snmpd process")
    parser.add_argument("--record", action="store_true", help="append this run to bench/RESULTS.md")
    parser.add_argument("--timeout", type=float, default=2.0, help="SNMP timeout per try, seconds")
    args = parser.parse_args()
    if not shutil.which("snmpget"):
        raise SystemExit("needs net-snmp's snmpd and snmpget (Debian packages snmpd, snmp)")
    hosts = addresses(max(args.devices, args.snmpget_devices))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # the poller (and the snmpget children) on one core
    with tempfile.TemporaryDirectory(prefix="rackcard-bench-") as tmp:
        agents = start_snmpd(hosts, Path(tmp), args.per_snmpd)
        try:
            first, ours = asyncio.run(run_poller(hosts[: args.devices], args.in_flight, args.timeout))
            theirs = run_snmpget_loop(hosts[: args.snmpget_devices], args.timeout)
        finally:
            for process in agents:
                process.terminate()
            for process in agents:
                process.wait(10)

    def rate(r):
        return r["devices"] / r["wall"]

    ratio = rate(ours) / rate(theirs)
    ratio_first = rate(first) / rate(theirs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"### {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}, load average {load:.1f}",
        "",
        f"`--devices {args.devices} --snmpget-devices {args.snmpget_devices} --in-flight {args.in_flight}`; "
        f"{len(hosts)} loopback addresses served by {len(range(0, len(hosts), args.per_snmpd))} snmpd processes on CPU 1, "
        "pollers on CPU 0; one poll = one SNMPv2c GET of 5 OIDs, interpreted (media-converter profile).",
        "",
        "| poller | devices | answered | wall s | devices/s | CPU ms per poll |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in (("rackcard (pysnmp asyncio, one process), first round", first),
                    ("rackcard, steady state (second round)", ours),
                    ("`snmpget` once per device, in a loop", theirs)):
        lines.append(f"| {name} | {r['devices']} | {r['ok']} | {r['wall']:.2f} | {rate(r):.0f} | "
                     f"{1000 * r['cpu'] / r['devices']:.2f} |")
    lines += ["", f"rackcard / snmpget loop: **{ratio:.1f}x** devices/s in steady state, {ratio_first:.1f}x in the "
              "first round (targets: >= 170 devices/s on one core, >= 5x)."]
    print("\n".join(lines))
    if args.record:
        append_run("## poll_throughput — rackcard's SNMP poller vs an `snmpget` loop",
                   "`python bench/poll_throughput.py [--devices N] [--snmpget-devices M] [--record]`", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
