"""The composition root: create_app() wires settings, database, the apps'
routes and the background workers together. Nothing here runs at import time."""

from __future__ import annotations

import importlib
import logging
import re
import os
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import AsyncIterator, Iterator

from litestar import Litestar, Request, Router
from litestar.openapi import OpenAPIConfig
from litestar.response import Redirect
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router

from litestar.datastructures import State
from litestar.di import Provide

from accounts import secretbox
from accounts.audit_log import SourceAddressMiddleware
from accounts.http import page_viewer_dependency, require_staff_session, require_token, viewer_dependency
from accounts.ratelimit import FailureLimiter
from incidents import admin, checks, leases
from portal.pages import NotAClient, require_client_session
from portal.pages import page_routes as portal_page_routes
from rackcard import csrf, db, logs, openapi, ops, web
from rackcard.api_docs import VendoredSwagger
from rackcard.composed import build_card
from rackcard.heap import settle_garbage_collector
from rackcard.spread import Shares, SpreadKeepAlive
from rackcard.security import SecurityHeaders
from rackcard.settings import Settings
from validation import BODY_MAX_BYTES
from validation.requests import RequestBounds

log = logging.getLogger("rackcard")

ROOT = Path(__file__).resolve().parent.parent

#: Each app module exposes `api_routes` (mounted under /api/v1, token required).
API_MODULES = (
    "accounts.api",
    "cmdb.api",
    "cmdb.import_api",
    "incidents.api",
    "incidents.probe_api",
    "incidents.power_api",
    "incidents.live_api",
    "integrations.api",
    "integrations.mail_api",
    "rackcard.composed",
    "incidents.desk_api",
    "rackcard.audit_api",
    "portal.api",
)

#: Each page module exposes `page_routes`: staff pages, mounted behind a session of a staff user
#: (no session -> /login?next=..., a client user -> the portal); handlers take `viewer: Viewer`.
PAGE_MODULES = ("pages.board", "pages.power", "pages.search", "pages.card", "pages.incident", "pages.reports",
                "pages.desk", "pages.history", "integrations.pages", "pages.live", "pages.inventory", "pages.records",
                "pages.admin")

#: Each exposes `background(app_state, settings) -> async context manager`, started by serve.
BACKGROUND_MODULES: tuple[str, ...] = ("incidents.embedded_probe", "incidents.background", "integrations.background")


#: API operations without tags of their own are grouped in the API docs by path: (first match wins).
API_TAGS: tuple[tuple[str, str], ...] = (
    (r"^/(me|users|tokens)\b", "accounts"),
    (r"^/(import|imports|export)\b", "import and export"),
    (r"^/incidents/[^/]+/(suggestions|kb-uses|canned-replies)", "knowledge base and replies"),
    (r"^/incidents/[^/]+/attachments", "incidents"),
    (r"^/incidents\b", "incidents"),
    (r"^/sla-plans\b", "SLA"),
    (r"^/reports\b", "reports"),
    (r"^/maintenance-windows\b", "maintenance"),
    (r"^/assets/[^/]+/impact", "maintenance"),
    (r"^/webhooks\b", "integrations"),
    (r"^/ingest\b", "integrations"),
    (r"^/mail\b", "mail"),
    (r"^/probe/power-jobs", "power"),
    (r"^/assets/[^/]+/power", "power"),
    (r"^/probe\b", "probe workers"),
    (r"^/assets/[^/]+/(discover|checks|check-events|samples|poll)", "monitoring"),
    (r"^/(kb|canned-replies)\b", "knowledge base and replies"),
)


def _tag_api(handlers: list) -> list:
    for handler in handlers:
        if handler.tags:
            continue
        path = next(iter(handler.paths))
        for pattern, tag in API_TAGS:
            if re.search(pattern, path):
                handler.tags = [tag]
                break
    return handlers


def _collect(modules: tuple[str, ...], attribute: str) -> list:
    found = []
    for name in modules:
        found.extend(getattr(importlib.import_module(name), attribute))
    return found


def create_app(
    settings: Settings | None = None, *, manage_db: bool = True, background: bool | str = True, demo: bool = False,
    migrate: bool = True, demo_scenario: bool = True, long_running: bool = False,
) -> Litestar:
    """Build the web app.

    demo: seed demo data (when the database is empty) and start simulated SNMP agents.
    demo_scenario: with demo, play the fault scenario on the simulated agents (rackcard demo --quiet: off).
    manage_db: connect (and, with `migrate`, migrate) on startup; tests that manage the engine pass False.
    background: start the embedded probe worker, trap receiver and incident timers; "leader": only
    in the one process of `serve --workers N` that holds the leader lock (see worker_app).
    long_running: a server process (`rackcard serve`): the garbage collector is settled once started.
    """
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if manage_db:
                if settings.database_url.startswith("sqlite:"):
                    db.private_dir(settings.var_dir)
                await stack.enter_async_context(db.connected(settings.database_url, run_migrations=migrate))
                log.info("database ready: %s", _redacted(settings.database_url))
            if demo:
                from rackcard.demo import demo_context

                await stack.enter_async_context(demo_context(settings, scenario=demo_scenario))
            run_background = bool(background)
            if background == "leader":
                run_background = stack.enter_context(_leader_lock(settings.var_dir))
            if run_background:
                for name in BACKGROUND_MODULES:
                    module = importlib.import_module(name)
                    await stack.enter_async_context(module.background(app.state, settings))
            if long_running:
                settle_garbage_collector()
            yield

    api = Router(
        path="/api/v1",
        route_handlers=_tag_api(_collect(API_MODULES, "api_routes")),
        guards=[require_token],
        dependencies=viewer_dependency,
    )
    staff_pages = Router(
        path="/",
        route_handlers=_collect(PAGE_MODULES, "page_routes"),
        guards=[require_staff_session],
        # pages sit below the composition root: the composed client card is handed to them
        dependencies={**page_viewer_dependency, "build_card": Provide(lambda: build_card, sync_to_thread=False)},
        include_in_schema=False,
    )
    portal_pages = Router(
        path="/portal",
        route_handlers=portal_page_routes,
        guards=[require_client_session],
        dependencies=page_viewer_dependency,
        include_in_schema=False,
    )
    app = Litestar(
        route_handlers=[
            api,
            staff_pages,
            portal_pages,
            *web.web_routes,
            *ops.routes,
            create_static_files_router(path="/static", directories=[ROOT / "static"], include_in_schema=False),
        ],
        # SourceAddressMiddleware: the audit log's "from where".
        middleware=[SourceAddressMiddleware, logs.request_id_middleware, ops.request_metrics,
                    SecurityHeaders(), RequestBounds()],
        lifespan=[lifespan],
        request_max_body_size=BODY_MAX_BYTES,
        template_config=web.template_config(),
        # Every unsafe page request (forms, htmx) needs the CSRF token; /api/v1 is exempt (bearer tokens).
        before_request=csrf.check,
        before_send=[csrf.before_send],
        # a staff user who opens the portal is sent to the board
        exception_handlers={**web.exception_handlers, NotAClient: _to_board},  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(
            title="rackcard",
            version="1",
            path="/schema",
            # Litestar's HTML viewers pull scripts from a CDN, which an isolated
            # network cannot reach: /schema is Swagger UI served from static/vendor/.
            render_plugins=[JsonRenderPlugin(), VendoredSwagger()],
        ),
        debug=False,
    )
    openapi.install(app)
    apply_settings(app, settings)
    return app


def apply_settings(app: Litestar, settings: Settings) -> None:
    """Put `settings` in force for `app`: the process-wide values the services
    read (secret key, clock tolerance, poll interval floor, lease length,
    webhook policy) and a fresh app state (the settings, an empty failure
    limiter). Building the routes costs most of a second, so the tests build
    one app per process and run it under each test's settings through this."""
    secretbox.configure(settings.secret_key, settings.old_secret_keys)
    checks.set_clock_tolerance(settings.clock_tolerance_s)
    checks.set_min_interval(settings.min_poll_interval_s)
    leases.configure(settings.probe_lease_s)
    admin.ALLOW_PRIVATE_WEBHOOKS = settings.allow_private_webhooks
    app.state = State({"settings": settings, "auth_limiter": FailureLimiter(settings.auth_failures_per_minute)})


@contextmanager
def _leader_lock(var_dir: Path) -> Iterator[bool]:
    """True in the one process holding var_dir/serve.lock (the lock dies with its process)."""
    import fcntl

    Path(var_dir).mkdir(parents=True, exist_ok=True)
    handle = open(Path(var_dir) / "serve.lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        yield False
        return
    log.info("this process (pid %d) runs the embedded probe worker and the incident timers", os.getpid())
    try:
        yield True
    finally:
        handle.close()


def worker_app() -> Litestar | SpreadKeepAlive:
    """The app in each process of `rackcard serve --workers N` (uvicorn's factory).

    The parent applied the migrations before starting the processes; the
    embedded probe worker and the timers run in exactly one of them; the
    processes keep their shares of the keep-alive connections even (rackcard.spread).
    """
    settings = Settings.from_env()
    app = create_app(settings, migrate=False, background="leader", long_running=True)
    db.private_dir(settings.var_dir)
    try:
        shares = Shares(Path(settings.var_dir) / "web-connections")
    except (OSError, RuntimeError) as exc:  # e.g. a file system without record locks: serve, unspread
        log.warning("keep-alive connections are not spread over the processes: %s", exc)
        return app
    return SpreadKeepAlive(app, shares)


def _to_board(request: Request, exc: NotAClient) -> Redirect:
    return Redirect("/", status_code=303)


def _redacted(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url
