"""`rackcard probe`: a probe worker (remote site or embedded), or one poll for an engineer on the phone.

probes/ imports nothing from the server apps: this command talks to the server
over HTTP with a probe token, and reads its own RACKCARD_* variables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger("rackcard.probes")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"error: {name} must be an integer, got {raw!r}") from None


def _default_server() -> str:
    if os.environ.get("RACKCARD_PROBE_SERVER"):
        return os.environ["RACKCARD_PROBE_SERVER"]
    host = os.environ.get("RACKCARD_HOST", "127.0.0.1")
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{host}:{_env_int('RACKCARD_PORT', 8000)}"


def _find(targets, wanted: str):
    if wanted.isascii() and wanted.isdigit():  # "²".isdigit() is True, int("²") fails
        for t in targets:
            if t.asset_id == int(wanted):
                return t
    matches = [t for t in targets if t.name.lower() == wanted.strip().lower()]
    return matches[0] if len(matches) == 1 else None


async def _target(args: argparse.Namespace, token: str, wanted: str):
    from probes.client import ServerClient, ServerRefused, ServerUnavailable

    client = ServerClient(args.server, token, _spool_dir(args), probe=args.name)
    try:
        targets = await client.targets(args.site, lease=False)
    except (ServerUnavailable, ServerRefused) as exc:
        print(f"error: cannot fetch targets from {args.server}: {exc}", file=sys.stderr)
        return None
    finally:
        await client.aclose()
    target = _find(targets, wanted)
    if target is None:
        print(f"error (asset): no polled asset named or numbered {wanted!r} among {len(targets)} targets",
              file=sys.stderr)
    return target


async def _profiles(args: argparse.Namespace, token: str):
    """--profiles, else RACKCARD_PROFILES, else the set the server serves."""
    from probes.client import ServerClient
    from probes.profiles import builtin_profiles, installed_profiles

    if args.profiles:
        return builtin_profiles(args.profiles)
    if os.environ.get("RACKCARD_PROFILES"):
        return installed_profiles()
    client = ServerClient(args.server, token, _spool_dir(args), probe=args.name)
    try:
        return builtin_profiles(await client.profile_data())
    except Exception as exc:  # an older or unreachable server: the built-ins
        log.warning("cannot load the server's profiles: %s", exc)
        return builtin_profiles()
    finally:
        await client.aclose()


async def _discover(args: argparse.Namespace, token: str) -> int:
    """Walk one asset's IF-MIB/ENTITY-MIB and print its ports by name, with a proposed role."""
    from probes.discovery import discover
    from probes.snmp import SnmpPoller

    target = await _target(args, token, args.discover)
    if target is None:
        return 2
    result, ports = await discover(target, SnmpPoller(args.timeout, args.retries))
    if result.status != "ok":
        print(f"error: discovery of {target.name} failed: {result.message}", file=sys.stderr)
        return 1
    stored = {i.if_index: i for i in target.interfaces}
    if args.json:
        print(json.dumps([p.to_dict() for p in ports], indent=2))
        return 0
    print(f"{target.name} (asset {target.asset_id}) at {target.host}:{target.port}: {len(ports)} interfaces")
    print(f"  {'ifIndex':>7}  {'name':<20} {'proposed':<8} {'admin/oper':<12} {'type':<16} stored")
    for p in ports:
        have = stored.get(p.if_index)
        note = ""
        if have is not None:
            expected = have.if_name or have.if_descr or have.name
            note = f"{have.role} {have.name}" + ("" if expected in (p.if_name, p.if_descr) else f"  MISMATCH: stored {expected!r}")
        print(f"  {p.if_index:>7}  {p.name:<20} {p.role:<8} {p.admin + '/' + p.oper:<12} {p.if_type:<16} {note}")
    print("Pick ports by name: POST /api/v1/assets/{id}/discover {\"picks\": [{\"name\": ..., \"role\": ..., \"client_id\": ...}]}")
    return 0


async def _once(args: argparse.Namespace, token: str) -> int:
    from probes.worker import poll_once
    from probes.snmp import SnmpPoller

    target = await _target(args, token, args.once)
    if target is None:
        return 2
    poller = SnmpPoller(args.timeout, args.retries)
    observations = await poll_once(target, poller, await _profiles(args, token))
    if args.json:
        print(json.dumps([o.to_dict() for o in observations], indent=2))
    else:
        print(f"{target.name} (asset {target.asset_id}, {target.kind}) at {target.host}:{target.port} SNMPv{target.version}")
        for o in observations:
            print(f"  {o.key:<26} {o.state.upper():<9} {o.value or '':<12} {o.message}")
    return 0


def _spool_dir(args: argparse.Namespace) -> Path:
    if args.spool_dir:
        return Path(args.spool_dir)
    return Path(os.environ.get("RACKCARD_VAR_DIR", "var")) / "probe-spool" / (args.name or "probe")


async def _run(args: argparse.Namespace, token: str) -> int:
    from probes.worker import EXIT_TOKEN_REFUSED, TokenRefusedExit, Worker, WorkerConfig

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per batch is noise

    from probes.client import SpoolSlot
    from rackcard.heap import settle_garbage_collector

    # Workers with one name on one volume (compose --scale) each hold their own
    # spool slot, and their own leases: the slot number is part of the worker id.
    slot = SpoolSlot.claim(_spool_dir(args))
    if slot.number > 1:
        log.info("spool %s is held by another worker named %s: this one uses %s", _spool_dir(args), args.name,
                 slot.path)
    worker = Worker(WorkerConfig(
        server=args.server, token=token, spool_dir=slot.path, site=args.site, probe=args.name, spool_slot=slot.number,
        trap_host=None if args.no_traps else args.trap_host, trap_port=args.trap_port,
        trap_communities=tuple(args.trap_community or ["public"]),
        timeout_s=args.timeout, retries=args.retries, max_in_flight=args.max_in_flight,
        profiles_file=args.profiles, exit_on_refused=args.exit_on_refused,
    ))
    settle_garbage_collector()  # what is loaded now lives as long as the worker
    task = asyncio.create_task(worker.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        log.info("probe worker stopped")
    except TokenRefusedExit:
        log.error("probe worker stopped: the server refused its token")
        return EXIT_TOKEN_REFUSED
    finally:
        slot.release()
    return 0


def _probe(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("RACKCARD_PROBE_TOKEN", "")
    if not token:
        print("error (token): give --token or set RACKCARD_PROBE_TOKEN (rackcard token create --probe NAME)",
              file=sys.stderr)
        return 2
    if args.discover:
        return asyncio.run(_discover(args, token))
    if args.once:
        return asyncio.run(_once(args, token))
    return asyncio.run(_run(args, token))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "probe",
        help="run an SNMP probe worker for the server's (or one site's) assets, or poll one asset with --once",
        description="Polls assets over SNMP and receives traps; posts observations to the server with a probe "
        "token, spooling them to disk while the server is unreachable. --once ASSET polls one asset and prints "
        "what it saw (targets are read through the API with the same probe token).",
    )
    p.add_argument("--server", default=_default_server(),
                   help="server URL (default RACKCARD_PROBE_SERVER, else http://RACKCARD_HOST:RACKCARD_PORT)")
    p.add_argument("--token", help="probe token (default RACKCARD_PROBE_TOKEN; prefer the variable: "
                   "arguments are visible to other local users)")
    p.add_argument("--site", metavar="CODE", help="poll only this site's assets (a site-limited token implies it)")
    p.add_argument("--once", metavar="ASSET", help="poll one asset (name or id) now, print the result and exit")
    p.add_argument("--discover", metavar="ASSET", help="walk one asset's interfaces (IF-MIB, ENTITY-MIB) and print "
                   "them by name with a proposed role, and whether the stored interfaces still match; then exit")
    p.add_argument("--json", action="store_true", help="with --once or --discover: print JSON")
    p.add_argument("--name", default=os.environ.get("RACKCARD_PROBE_NAME", "probe"),
                   help="this worker's name (spool folder, logs); default RACKCARD_PROBE_NAME or 'probe'")
    p.add_argument("--spool-dir", help="where unsent batches wait (default RACKCARD_VAR_DIR/probe-spool/NAME; "
                   "a second worker with the same folder uses FOLDER.2, and so on)")
    p.add_argument("--trap-host", default=os.environ.get("RACKCARD_TRAP_HOST", "0.0.0.0"),
                   help="trap receiver address (default RACKCARD_TRAP_HOST or 0.0.0.0)")
    p.add_argument("--trap-port", type=int, default=_env_int("RACKCARD_TRAP_PORT", 1162),
                   help="trap receiver UDP port (default RACKCARD_TRAP_PORT or 1162)")
    p.add_argument("--trap-community", action="append", metavar="C",
                   help="accepted trap community (repeatable; default public)")
    p.add_argument("--no-traps", action="store_true", help="do not receive traps")
    p.add_argument("--timeout", type=float, default=1.0, help="SNMP timeout per try in seconds (default 1)")
    p.add_argument("--retries", type=int, default=1, help="SNMP retries after the first try (default 1)")
    p.add_argument("--max-in-flight", type=int, default=64, help="SNMP requests in flight at most (default 64)")
    p.add_argument("--profiles", metavar="PATH", default=None,
                   help="JSON file (or directory of *.json) of extra or overriding probe profiles "
                   "(default RACKCARD_PROFILES: give the server and every worker the same set)")
    p.add_argument("--exit-on-refused", action="store_true",
                   help="exit with code 3 when the server refuses the token (whoever started the worker renews "
                   "it); without it the worker reports itself stale and keeps spooling")
    p.set_defaults(func=_probe)
