"""Core commands: serve, migrate, demo, user, token."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import getpass
import logging
import os
import socket
import sys
from pathlib import Path

log = logging.getLogger("rackcard")


def _listen(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """Bind the web port now, before anything shared is touched (probe tokens,
    the demo's simulator data): a second server on a busy port stops here.
    `reuse_port`: one of several listening sockets of this server's processes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _udp_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


#: Seconds a stopping server gives the requests in flight.
GRACEFUL_S = 15


def _DrainingServer(config):
    """uvicorn's server, which on a stop signal also answers the probe workers'
    long polls at once (they would hold the shutdown for up to 30 s)."""
    import uvicorn

    from incidents.checks import drain_long_polls

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            drain_long_polls()
            super().handle_exit(sig, frame)

    return Server(config)


def _serve(args: argparse.Namespace, demo: bool = False) -> int:
    import uvicorn

    from rackcard.app import create_app
    from rackcard.settings import Settings

    settings = Settings.from_env()
    # --host/--port win over the environment everywhere, including the address
    # the embedded probe worker posts to and the demo's printed URLs.
    settings = dataclasses.replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    host, port = settings.host, settings.port
    workers = args.workers or default_workers(settings.database_url, demo)
    if workers > 1 and demo:
        print("error: demo runs in one process (it owns the simulated agents); drop --workers", file=sys.stderr)
        return 2
    try:
        sock = _listen(host, port)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc} — is another rackcard running there? "
              "Nothing was changed (probe tokens, demo data); choose another --port or RACKCARD_PORT.",
              file=sys.stderr)
        return 3
    if demo:
        from cmdb.demo import demo_address, demo_snmp_port

        if not all(_udp_free(h, demo_snmp_port()) for h in ("127.0.0.1", demo_address(1))):
            sock.close()
            print(f"error: the demo's simulated SNMP port udp 127.0.0.1:{demo_snmp_port()} is in use — is another "
                  "rackcard demo running? Nothing was changed; set RACKCARD_DEMO_SNMP_PORT.", file=sys.stderr)
            return 3
    log.info("rackcard listening on http://%s:%s (log in at /login; API /api/v1, OpenAPI /schema/openapi.json), "
             "%d process(es)",
             host, port, workers)
    # log_config=None: uvicorn's own lines go through rackcard's handler (text or JSON, with request ids).
    # On stop, requests in flight (an observation batch, an import) get GRACEFUL_S to finish.
    common = dict(log_level=settings.log_level.lower(), log_config=None, timeout_graceful_shutdown=GRACEFUL_S)
    if workers == 1:
        # serve on the socket bound above: the app's start-up (tokens, demo data) runs only once the port is ours
        app = create_app(settings, demo=demo, demo_scenario=not getattr(args, "quiet", False), long_running=True)
        _DrainingServer(uvicorn.Config(app, **common)).run(sockets=[sock])
        return 0
    # Several processes: uvicorn binds in this process before starting them (their start-up runs after).
    sock.close()
    from rackcard.cli import run_async

    run_async(lambda: asyncio.sleep(0), settings=settings)  # migrations once, before the processes start
    # The worker processes read their settings from the environment: pass the command line's on.
    os.environ.update(RACKCARD_HOST=host, RACKCARD_PORT=str(port))
    config = uvicorn.Config("rackcard.app:worker_app", factory=True, workers=workers, host=host, port=port, **common)
    with contextlib.suppress(KeyboardInterrupt):
        _SpreadingSupervisor(config, host, port).run()
    return 0


def _SpreadingSupervisor(config, host: str, port: int):
    """uvicorn's supervisor of `serve --workers N` (restarts, health checks,
    signals), with a listening socket of its own for each process, bound with
    SO_REUSEPORT, so the kernel spreads new connections evenly over them. On one
    shared socket the process that wakes first accepts a whole burst and keeps
    those keep-alive connections: 32 clients ended 29 on one process, 3 on the
    other, and the busy one's queue set the latency."""
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        def __init__(self) -> None:
            self._handed: list[socket.socket] = []
            super().__init__(config, sockets=[])

        @property
        def sockets(self) -> list[socket.socket]:
            """A new socket for each process started (uvicorn reads this as it starts one)."""
            sock = _listen(host, port, reuse_port=True)
            self._handed.append(sock)
            return [sock]

        @sockets.setter
        def sockets(self, value) -> None:
            pass

        def keep_subprocess_alive(self) -> None:
            # A started process holds its own copy. The parent's copy would keep a
            # dead process's socket listening, and the kernel would still send it connections.
            for sock in self._handed:
                sock.close()
            self._handed.clear()
            super().keep_subprocess_alive()

    return Supervisor()


def default_workers(database_url: str, demo: bool) -> int:
    """The machine's cores on PostgreSQL; one process on SQLite (one writer: more
    processes add lock waits there, not throughput) and for the demo."""
    if demo or database_url.startswith("sqlite"):
        return 1
    return os.cpu_count() or 1


def _migrate(args: argparse.Namespace) -> int:
    from rackcard.cli import run_async

    async def noop():
        return None

    run_async(noop)  # connecting applies the migrations
    print("migrations applied")
    return 0


def _user_create(args: argparse.Namespace) -> int:
    from accounts.services import create_user
    from rackcard.cli import run_async

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            print("error: passwords differ", file=sys.stderr)
            return 2
    else:
        password = None

    async def run():
        client_id = None
        if args.client:
            from cmdb.services import client_id_by_code

            client_id = await client_id_by_code(args.client)
        user = await create_user(args.email, args.role, password, client_id=client_id, name=args.name or "")
        return user

    user = run_async(run)
    print(f"created {user.role} user {user.email} (id {user.id})")
    return 0


def _token_create(args: argparse.Namespace) -> int:
    from accounts.services import create_token
    from rackcard.cli import run_async

    if sum(bool(x) for x in (args.email, args.probe, args.ingest)) != 1:
        print("error: give one of --email (a user token), --probe NAME (a probe token) "
              "or --ingest NAME (an alert-ingest token)", file=sys.stderr)
        return 2
    if args.site and not args.probe:
        print("error: --site goes with --probe", file=sys.stderr)
        return 2

    async def run():
        return await create_token(args.email, args.name or "", args.probe, args.site, ingest=args.ingest)

    token = run_async(run)
    print("Token (shown once; only its hash is stored):", file=sys.stderr)
    print(token)
    return 0


def _print_rows(rows: list[dict], columns: tuple[str, ...]) -> None:
    widths = [max(len(c), *(len(str(r.get(c) if r.get(c) is not None else "-")) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(str(r.get(c) if r.get(c) is not None else "-").ljust(w) for c, w in zip(columns, widths)))


def _token_list(args: argparse.Namespace) -> int:
    from accounts.services import list_tokens
    from rackcard.cli import run_async

    rows = run_async(lambda: list_tokens(include_revoked=args.all))
    _print_rows(rows, ("id", "prefix", "kind", "email", "name", "site_code", "last_used_at", "revoked"))
    return 0


def _row_id(raw: str) -> int:
    """A row id on the command line: what the API accepts as one (argparse prints the refusal, exit 2)."""
    import validation
    from accounts.errors import Invalid

    try:
        return validation.integer(raw, "id", min=1, max=2**31 - 1)
    except Invalid as exc:
        raise argparse.ArgumentTypeError(exc.detail.removeprefix("id: ")) from None


def _token_revoke(args: argparse.Namespace) -> int:
    from accounts.services import revoke_token
    from accounts.viewer import SYSTEM
    from rackcard.cli import run_async

    row = run_async(revoke_token, args.id, SYSTEM)
    print(f"revoked token {row['id']} ({row['prefix']}..., {row['email'] or row['name']})")
    return 0


def _user_list(args: argparse.Namespace) -> int:
    from accounts.services import list_users
    from rackcard.cli import run_async

    _print_rows(run_async(list_users), ("id", "email", "role", "client_id", "active"))
    return 0


def _user_active(args: argparse.Namespace, active: bool) -> int:
    from accounts.services import set_user_active
    from accounts.viewer import SYSTEM
    from rackcard.cli import run_async
    from validation import id_or_name

    key = id_or_name(args.user) or args.user
    row = run_async(set_user_active, key, active, SYSTEM)
    print(f"{'enabled' if active else 'disabled'} user {row['email']} (id {row['id']})")
    return 0


def _secrets_rotate(args: argparse.Namespace) -> int:
    from rackcard.cli import run_async
    from rackcard.secrets import rotate

    counts = run_async(rotate)
    print(", ".join(f"{n} {what}" for what, n in counts.items()) + " sealed with the current RACKCARD_SECRET_KEY")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from rackcard.backup import backup
    from rackcard.settings import Settings

    size = backup(Settings.from_env().database_url, args.file)
    print(f"backup written to {args.file} ({size} bytes)")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from rackcard.backup import restore
    from rackcard.settings import Settings

    if not args.yes:
        print("error: restore replaces the whole database; stop the server, then run again with --yes",
              file=sys.stderr)
        return 2
    restore(Settings.from_env().database_url, args.file)
    print(f"database restored from {args.file}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    def add_listen(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", help="address to listen on (default RACKCARD_HOST or 127.0.0.1)")
        p.add_argument("--port", type=int, help="port to listen on (default RACKCARD_PORT or 8000)")
        p.add_argument("--workers", type=int, metavar="N",
                       help="web processes (default: the machine's cores on PostgreSQL, 1 on SQLite); "
                            "the embedded probe worker and the timers run in exactly one of them")

    p = sub.add_parser("serve", help="apply migrations and serve the web app, API and embedded probe worker")
    add_listen(p)
    p.set_defaults(func=_serve)

    p = sub.add_parser("demo", help="like serve, plus demo data, simulated SNMP agents and a fault scenario")
    add_listen(p)
    p.add_argument("--quiet", action="store_true",
                   help="no fault scenario: the simulated agents stay healthy (see README: Demo data)")
    p.set_defaults(func=lambda a: _serve(a, demo=True))

    p = sub.add_parser("migrate", help="apply database migrations and exit")
    p.set_defaults(func=_migrate)

    p = sub.add_parser("user", help="manage users")
    user_sub = p.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    c = user_sub.add_parser("create", help="create a user (password from a prompt or --password-stdin)")
    c.add_argument("--email", required=True)
    c.add_argument("--role", required=True, choices=["admin", "engineer", "noc", "client"])
    c.add_argument("--client", metavar="CODE", help="client code, for --role client")
    c.add_argument("--name", help="display name")
    c.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    c.set_defaults(func=_user_create)
    c = user_sub.add_parser("list", help="list users")
    c.set_defaults(func=_user_list)
    c = user_sub.add_parser("disable", help="disable a user: their tokens and logins stop working at once")
    c.add_argument("user", help="e-mail or id")
    c.set_defaults(func=lambda a: _user_active(a, False))
    c = user_sub.add_parser("enable", help="enable a disabled user again")
    c.add_argument("user", help="e-mail or id")
    c.set_defaults(func=lambda a: _user_active(a, True))

    p = sub.add_parser("token", help="manage API tokens")
    token_sub = p.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    c = token_sub.add_parser("create", help="create an API token; prints it alone on the last line")
    c.add_argument("--email", help="the user the token acts as")
    c.add_argument("--probe", metavar="NAME", help="create a probe-worker token instead")
    c.add_argument("--ingest", metavar="NAME",
                   help="create an alert-ingest token (Alertmanager, LibreNMS, Zabbix): it may post alerts, nothing else")
    c.add_argument("--site", metavar="CODE", help="with --probe: limit the worker to one site")
    c.add_argument("--name", help="a label for the token")
    c.set_defaults(func=_token_create)
    c = token_sub.add_parser("list", help="list API tokens (never the tokens: their first characters)")
    c.add_argument("--all", action="store_true", help="include revoked tokens")
    c.set_defaults(func=_token_list)
    c = token_sub.add_parser("revoke", help="revoke an API token by id (see token list)")
    c.add_argument("id", type=_row_id, help="the token's id (1 to 2147483647)")
    c.set_defaults(func=_token_revoke)

    p = sub.add_parser("secrets", help="stored secrets (SNMP credentials, webhook keys)")
    secrets_sub = p.add_subparsers(dest="secrets_command", metavar="ACTION", required=True)
    c = secrets_sub.add_parser(
        "rotate", help="seal every stored secret again with RACKCARD_SECRET_KEY",
        description="Re-seals SNMP credentials and webhook secrets with the current RACKCARD_SECRET_KEY. "
        "Put the previous key(s) in RACKCARD_OLD_SECRET_KEYS (comma-separated) so they can be opened; "
        "secrets stored in clear by an older version are sealed too.")
    c.set_defaults(func=_secrets_rotate)

    p = sub.add_parser("backup", help="write a backup of the database (SQLite online backup, or pg_dump)")
    p.add_argument("file", type=Path, help="where to write it")
    p.set_defaults(func=_backup)

    p = sub.add_parser("restore", help="replace the database with a backup (stop the server first)")
    p.add_argument("file", type=Path, help="a file written by 'rackcard backup'")
    p.add_argument("--yes", action="store_true", help="confirm: the current data is replaced")
    p.set_defaults(func=_restore)
