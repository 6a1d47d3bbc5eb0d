"""The composition root: create_app() wires settings, database, the apps'
routes and the background workers together. Nothing here runs at import time."""

from __future__ import annotations

import importlib
import logging
import os
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import AsyncIterator, Iterator

from litestar import Litestar, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router

from accounts.audit_log import SourceAddressMiddleware
from accounts.http import require_token, viewer_dependency
from rackcard import db, logs, ops
from rackcard.problems import exception_handlers
from rackcard.settings import Settings

log = logging.getLogger("rackcard")

ROOT = Path(__file__).resolve().parent.parent

#: Each app module exposes `api_routes` (mounted under /api/v1, token required).
API_MODULES = (
    "accounts.api",
    "cmdb.api",
    "cmdb.import_api",
    "incidents.api",
    "incidents.probe_api",
    "rackcard.composed",
    "rackcard.audit_api",
    "portal.api",
)

#: Each exposes `background(app_state, settings) -> async context manager`, started by serve.
BACKGROUND_MODULES: tuple[str, ...] = ("incidents.embedded_probe", "incidents.background")


def _collect(modules: tuple[str, ...], attribute: str) -> list:
    found = []
    for name in modules:
        found.extend(getattr(importlib.import_module(name), attribute))
    return found


def create_app(
    settings: Settings | None = None, *, manage_db: bool = True, background: bool | str = True, demo: bool = False,
    migrate: bool = True,
) -> Litestar:
    """Build the web app.

    demo: seed demo data (when the database is empty) and start simulated SNMP agents.
    manage_db: connect (and, with `migrate`, migrate) on startup; tests that manage the engine pass False.
    background: start the embedded probe worker, trap receiver and incident timers; "leader": only
    in the one process of `serve --workers N` that holds the leader lock (see worker_app).
    """
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if manage_db:
                await stack.enter_async_context(db.connected(settings.database_url, run_migrations=migrate))
                log.info("database ready: %s", _redacted(settings.database_url))
            if demo:
                from rackcard.demo import demo_context

                await stack.enter_async_context(demo_context(settings))
            run_background = bool(background)
            if background == "leader":
                run_background = stack.enter_context(_leader_lock(settings.var_dir))
            if run_background:
                for name in BACKGROUND_MODULES:
                    module = importlib.import_module(name)
                    await stack.enter_async_context(module.background(app.state, settings))
            yield

    api = Router(
        path="/api/v1",
        route_handlers=_collect(API_MODULES, "api_routes"),
        guards=[require_token],
        dependencies=viewer_dependency,
    )
    app = Litestar(
        route_handlers=[
            api,
            *ops.routes,
            create_static_files_router(path="/static", directories=[ROOT / "static"]),
        ],
        # SourceAddressMiddleware: the audit log's "from where".
        middleware=[SourceAddressMiddleware, logs.request_id_middleware, ops.prometheus_config().middleware],
        lifespan=[lifespan],
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(
            title="rackcard",
            version="1",
            path="/schema",
            # Only the JSON: the HTML viewers pull scripts from a CDN, which an
            # isolated network cannot reach.
            render_plugins=[JsonRenderPlugin()],
        ),
        debug=False,
    )
    app.state.settings = settings
    return app


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


def worker_app() -> Litestar:
    """The app in each process of `rackcard serve --workers N` (uvicorn's factory).

    The parent applied the migrations before starting the processes; the
    embedded probe worker and the timers run in exactly one of them.
    """
    return create_app(Settings.from_env(), migrate=False, background="leader")


def _redacted(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url
