"""Poll throughput: rackcard's poller vs a loop running `snmpget` once per device.

N simulated devices = one net-snmp `snmpd` answering on N loopback addresses
(127.0.x.y; snmpsim is too slow to be the agent in a load test). Each device is
polled with the media-converter profile (sysUpTime + ifOperStatus/ifAdminStatus
of two ports: 5 OIDs in one GET) and interpreted into observations, over SNMPv2c
and over SNMPv3 authPriv (SHA + AES128) from the same agents: each snmpd process
has its own engine id, so the poller discovers and localises keys per agent.

The pollers run pinned to CPU 0 and snmpd to CPU 1 (when there are two), so
"devices/s" is what one core of poller does. CPU per poll is the poller's own
CPU time (for the snmpget loop: its children's) divided by the polls. The
poller runs with the probe worker's garbage-collector settings (rackcard.heap).

    python bench/poll_throughput.py [--devices 3000] [--snmpget-devices 300] [--in-flight 64] [--versions 2c,3]

Prints a Markdown block; --record appends it to bench/RESULTS.md. Targets: >= 170
devices/s on one core and >= 5x the snmpget loop (v2c); v3 within 2x of v2c.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _results import append_run, headline, load_average, machine  # noqa: E402  (bench/ is the script's directory)
from probes.interpret import interpret, oids_of, plan  # noqa: E402
from probes.profiles import builtin_profiles  # noqa: E402
from probes.snmp import SnmpPoller  # noqa: E402
from probes.wire import Target, TargetInterface, utcnow  # noqa: E402
from rackcard.heap import settle_garbage_collector  # noqa: E402

PORT = 16161
OIDS_CLI = ["1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.2.2.1.8.1", "1.3.6.1.2.1.2.2.1.7.1",
            "1.3.6.1.2.1.2.2.1.8.2", "1.3.6.1.2.1.2.2.1.7.2"]
QUIET_MIBS = {"MIBS": "", "MIBDIRS": "/nonexistent"}
V3_USER, V3_AUTH, V3_PRIV = "benchuser", "bench-auth-pass", "bench-priv-pass"


def addresses(n: int) -> list[str]:
    return [f"127.0.{10 + i // 250}.{1 + i % 250}" for i in range(n)]


def start_snmpd(hosts: list[str], workdir: Path, per_process: int = 250) -> list[subprocess.Popen]:
    """snmpd processes answering on `hosts` (net-snmp looks a reply's socket up among
    all of its sockets, so one process per `per_process` addresses keeps it cheap)."""
    exe = shutil.which("snmpd") or "/usr/sbin/snmpd"
    conf = workdir / "snmpd.conf"
    # Listening addresses go on the command line: a config line is cut at a few KB,
    # and a second agentaddress line replaces the first.
    conf.write_text(f'rocommunity public default\ncreateUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"\n'
                    f"rouser {V3_USER} priv\n")
    processes = []
    for n, first in enumerate(range(0, len(hosts), per_process)):
        group = hosts[first:first + per_process]
        # Each process keeps its own persistent state, hence its own engine id.
        state = workdir / f"state{n}"
        state.mkdir()
        env = dict(os.environ, **QUIET_MIBS, SNMP_PERSISTENT_DIR=str(state))
        cmd = [exe, "-f", "-Lf", str(workdir / f"snmpd{n}.log"), "-C", "-c", str(conf), "-p", str(workdir / f"pid{n}"),
               "-I", "-smux,mteTrigger,mteTriggerConf", ",".join(f"udp:{h}:{PORT}" for h in group)]
        if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
            cmd = ["taskset", "-c", "1"] + cmd
        processes.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    env = dict(os.environ, **QUIET_MIBS)
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


def _poller_process(hosts: list[str], in_flight: int, timeout: float, version: str, orders, answers) -> None:
    """One version's poller, in a process of its own (pinned as its parent is): a round of polls for each order."""
    profiles = builtin_profiles()
    v3 = {"v3_user": V3_USER, "v3_auth_protocol": "SHA", "v3_auth_key": V3_AUTH, "v3_priv_protocol": "AES",
          "v3_priv_key": V3_PRIV} if version == "3" else {}
    targets = [Target(asset_id=i, name=h, kind="media_converter", host=h, port=PORT, community="public",
                      version=version, **v3, interfaces=(TargetInterface(1, "copper"), TargetInterface(2, "fiber")))
               for i, h in enumerate(hosts)]
    planned = {t.asset_id: plan(t, profiles["media_converter"]) for t in targets}

    async def rounds() -> None:
        poller = SnmpPoller(timeout=timeout, retries=1, max_in_flight=in_flight)

        async def one(t: Target):
            result = await poller.get(t, oids_of(planned[t.asset_id]))
            return interpret(t, planned[t.asset_id], result, utcnow().isoformat())

        settle_garbage_collector()  # as `rackcard probe` does before it polls
        while orders.get():
            cpu0, wall0 = time.process_time(), time.perf_counter()
            results = await asyncio.gather(*(one(t) for t in targets))
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            ok = sum(1 for r in results if r[0].key == "reachability" and r[0].state == "ok")
            answers.put({"devices": len(hosts), "ok": ok, "wall": wall, "cpu": cpu})

    asyncio.run(rounds())


def run_pollers(hosts: list[str], in_flight: int, timeout: float, versions: list[str],
                steady_rounds: int = 3) -> dict[str, list[dict]]:
    """version -> (first round, median steady round) of polling every host once per round.

    Each version polls from a process of its own (a worker's heap as it would
    be), one round at a time. Round 1 is the first contact (the agents fill
    their caches; the poller learns the transports and, for v3, the agents'
    engine ids and keys); the rounds after it are the steady state a worker
    polling every interval lives in. A round of 3,000 devices takes seconds and
    moves by ±10 % with other work on the machine, so the versions' steady rounds
    alternate (such a moment falls on both) and each reports its median round."""
    context = multiprocessing.get_context("spawn")
    pollers = {}
    for version in versions:
        orders, answers = context.Queue(), context.Queue()
        process = context.Process(target=_poller_process, args=(hosts, in_flight, timeout, version, orders, answers))
        process.start()
        pollers[version] = (process, orders, answers)

    def poll_round(version: str) -> dict:
        _, orders, answers = pollers[version]
        orders.put(True)
        return answers.get(timeout=600)

    try:
        runs = {version: [poll_round(version)] for version in versions}
        for _ in range(steady_rounds):
            for version in versions:
                runs[version].append(poll_round(version))
    finally:
        for process, orders, _ in pollers.values():
            orders.put(False)
            process.join(30)
    found = {}
    for version, measured in runs.items():
        steady = sorted(measured[1:], key=lambda r: r["wall"])
        found[version] = [measured[0], steady[len(steady) // 2]]
    return found


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=3000, help="devices polled by rackcard's poller")
    parser.add_argument("--snmpget-devices", type=int, default=300, help="devices polled by the snmpget loop")
    parser.add_argument("--in-flight", type=int, default=64, help="poller's bound on requests in flight")
    parser.add_argument("--per-snmpd", type=int, default=250, help="loopback addresses per snmpd process")
    parser.add_argument("--versions", default="2c,3", help="SNMP versions polled by rackcard's poller")
    parser.add_argument("--steady-rounds", type=int, default=3,
                        help="rounds after the first (the versions alternate); the median is the steady state reported")
    parser.add_argument("--record", action="store_true", help="append this run to bench/RESULTS.md")
    parser.add_argument("--timeout", type=float, default=2.0, help="SNMP timeout per try, seconds")
    args = parser.parse_args(argv)
    if not shutil.which("snmpget"):
        raise SystemExit("needs net-snmp's snmpd and snmpget (Debian packages snmpd, snmp)")
    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    hosts = addresses(max(args.devices, args.snmpget_devices))
    load = load_average()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # the pollers' processes and the snmpget children inherit it: one core
    with tempfile.TemporaryDirectory(prefix="rackcard-bench-") as tmp:
        agents = start_snmpd(hosts, Path(tmp), args.per_snmpd)
        try:
            runs = run_pollers(hosts[: args.devices], args.in_flight, args.timeout, versions, args.steady_rounds)
            theirs = run_snmpget_loop(hosts[: args.snmpget_devices], args.timeout)
        finally:
            for process in agents:
                process.terminate()
            for process in agents:
                process.wait(10)

    def rate(r):
        return r["devices"] / r["wall"]

    lines = [
        f"### {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}, load average at start {load}",
        "",
        f"`--devices {args.devices} --snmpget-devices {args.snmpget_devices} --in-flight {args.in_flight}`; "
        f"{len(hosts)} loopback addresses served by {len(range(0, len(hosts), args.per_snmpd))} snmpd processes on CPU 1 "
        "(one engine id each), pollers on CPU 0; one poll = one GET of 5 OIDs, interpreted (media-converter "
        f"profile); SNMPv3 = authPriv, SHA + AES128, user `{V3_USER}`.",
        "",
        "| poller | devices | answered | wall s | devices/s | CPU ms per poll |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    names = {"2c": "SNMPv2c", "3": "SNMPv3 authPriv", "1": "SNMPv1"}
    for version, (first, steady) in runs.items():
        for name, r in ((f"rackcard {names[version]}, first round (discovery)", first),
                        (f"rackcard {names[version]}, steady state (median of {args.steady_rounds} rounds)", steady)):
            lines.append(f"| {name} | {r['devices']} | {r['ok']} | {r['wall']:.2f} | {rate(r):.0f} | "
                         f"{1000 * r['cpu'] / r['devices']:.2f} |")
    lines.append(f"| `snmpget` v2c once per device, in a loop | {theirs['devices']} | {theirs['ok']} | "
                 f"{theirs['wall']:.2f} | {rate(theirs):.0f} | {1000 * theirs['cpu'] / theirs['devices']:.2f} |")
    lines.append("")
    bench = "poll_throughput"
    for version, (_, steady) in runs.items():
        headline(bench, f"{names[version]} devices/s, one core, steady", rate(steady), "devices/s", ">= 170",
                 rate(steady) >= 170)
        headline(bench, f"{names[version]} CPU per poll", 1000 * steady["cpu"] / steady["devices"], "ms")
    if "2c" in runs:
        ratio = rate(runs["2c"][1]) / rate(theirs)
        headline(bench, "SNMPv2c vs the snmpget loop", ratio, "x", ">= 5x", ratio >= 5)
        lines.append(f"rackcard v2c / snmpget loop: **{ratio:.1f}x** devices/s in steady state, "
                     f"{rate(runs['2c'][0]) / rate(theirs):.1f}x in the first round (targets: >= 170 devices/s on "
                     "one core, >= 5x).")
    if "2c" in runs and "3" in runs:
        slower = rate(runs["2c"][1]) / rate(runs["3"][1])
        headline(bench, "SNMPv3 authPriv slower than v2c by", slower, "x", "<= 2x", slower <= 2)
        lines.append(f"SNMPv3 authPriv / v2c: v3 is **{slower:.2f}x** slower in steady state "
                     f"({rate(runs['2c'][0]) / rate(runs['3'][0]):.2f}x in the first round; target <= 2x).")
    print("\n".join(lines))
    if args.record:
        append_run("## poll_throughput — rackcard's SNMP poller vs an `snmpget` loop",
                   "`python bench/poll_throughput.py [--devices N] [--snmpget-devices M] [--versions 2c,3] [--record]`",
                   lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
