"""Operations endpoints for load balancers, orchestrators and Prometheus.

- `/healthz`: the process answers (liveness); touches nothing.
- `/readyz`: the process can serve — the database answers, every migration is
  applied, and the embedded probe worker (when this process runs one) is alive.
  503 with the failing parts otherwise, so a proxy stops sending traffic.
- `/metrics`: Prometheus text. HTTP requests and latency by route template come
  from `request_metrics` below; the domain figures (open incidents by
  priority, deliveries by status, age of each site's newest observation, probe
  lease holders) are
  read from the database at scrape time, so every web replica reports the same
  domain numbers.

None of these carry client data, so they need no token; put them behind the
proxy's own access rules when the web port is public.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time

from litestar import Request, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger("rackcard.ops")

#: Paths the request metrics leave out (the scrapes themselves and static files).
UNMEASURED = ("/metrics", "/healthz", "/readyz", "/static")

#: The series (and labels) of Litestar's Prometheus middleware, which dashboards know.
_LABELS = ("method", "path", "status_code", "app_name")
_REQUESTS = Counter("rackcard_requests_total", "Total requests", _LABELS)
_ERRORS = Counter("rackcard_requests_error_total", "Total errors in requests", _LABELS)
_DURATION = Histogram("rackcard_request_duration_seconds", "Request duration, in seconds", _LABELS)
_IN_PROGRESS = Gauge("rackcard_requests_in_progress", "Total requests currently in progress", _LABELS,
                     multiprocess_mode="livesum")


@functools.cache
def _series(method: str, path: str, status: int) -> tuple:
    """The labelled children of one route and status (requests, duration,
    errors), made once: labelling costs more than counting."""
    values = (method, path, str(status), "rackcard")
    return (_REQUESTS.labels(*values), _DURATION.labels(*values),
            _ERRORS.labels(*values) if status >= 500 else None)


@functools.cache
def _in_progress(method: str, path: str) -> Gauge:
    """A route's requests in progress (labelled status 200, as Litestar's are: the status is not known yet)."""
    return _IN_PROGRESS.labels(method, path, "200", "rackcard")


def request_metrics(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: requests, server errors, requests in progress and latency
    by method and route template (one series for every asset, not one per id).
    The same series as Litestar's Prometheus middleware at a fraction of its CPU
    per request (which was ~5 % of a client card's), so the desk's reads pay
    little for being measured."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNMEASURED):
            await app(scope, receive, send)
            return
        method, path = scope["method"], scope.get("path_template") or "<unmatched>"
        status = 200
        in_progress = _in_progress(method, path)

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        in_progress.inc()
        try:
            await app(scope, receive, send_noting_status)
        finally:
            in_progress.dec()
            requests, duration, errors = _series(method, path, status)
            requests.inc()
            duration.observe(time.perf_counter() - started)
            if errors is not None:
                errors.inc()

    return middleware


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def readiness(state) -> dict[str, str]:
    """Each part of readiness: "ok" or what is wrong."""
    from rackcard import db

    parts: dict[str, str] = {}
    try:
        pending = await db.pending_migrations()
        parts["database"] = "ok"
        parts["migrations"] = "ok" if not pending else "pending: " + ", ".join(pending)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is "not ready"
        log.warning("readiness: database not reachable: %s", exc)
        parts["database"] = f"unreachable: {type(exc).__name__}"
    process = getattr(state, "probe_process", None)
    if process is not None:
        parts["embedded_probe"] = "ok" if process.returncode is None else f"exited with {process.returncode}"
    return parts


@get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response[dict]:
    parts = await readiness(request.app.state)
    ready = all(v == "ok" for v in parts.values())
    return Response({"status": "ready" if ready else "not ready", **parts},
                    status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE)


def _sample(name: str, value: float, **labels: str) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


async def domain_metrics(now: dt.datetime) -> str:
    from incidents import leases, stats

    lines = [
        "# HELP rackcard_open_incidents Open incidents (new to pending_client) by priority.",
        "# TYPE rackcard_open_incidents gauge",
    ]
    for priority, count in (await stats.open_incidents_by_priority()).items():
        lines.append(_sample("rackcard_open_incidents", count, priority=priority))
    lines += [
        "# HELP rackcard_notification_deliveries Notification deliveries (webhook, e-mail) by status.",
        "# TYPE rackcard_notification_deliveries gauge",
    ]
    for status, count in (await stats.deliveries_by_status()).items():
        lines.append(_sample("rackcard_notification_deliveries", count, status=status))
    lines += [
        "# HELP rackcard_site_last_observation_age_seconds Seconds since the newest observation at the site.",
        "# TYPE rackcard_site_last_observation_age_seconds gauge",
    ]
    for site, age in sorted((await stats.site_observation_age(now)).items()):
        lines.append(_sample("rackcard_site_last_observation_age_seconds", round(age, 3), site=site))
    lines += [
        "# HELP rackcard_probe_leases Assets each probe worker holds a live lease on (it polls them).",
        "# TYPE rackcard_probe_leases gauge",
    ]
    for holder, count in sorted((await leases.holders(now)).items()):
        lines.append(_sample("rackcard_probe_leases", count, holder=holder))
    return "\n".join(lines) + "\n"


@get("/metrics", include_in_schema=False)
async def metrics() -> Response[bytes]:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    body = generate_latest(REGISTRY) + (await domain_metrics(dt.datetime.now(dt.timezone.utc))).encode()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [healthz, readyz, metrics]
