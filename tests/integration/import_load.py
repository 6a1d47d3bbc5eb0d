"""A long CSV import with writers beside it — shared by the test
(test_hardening_import_concurrency.py) and the benchmark
(bench/import_concurrency.py): the import goes through the API, and while
it runs API writes (a site created) and probe batches (an observation
posted with a probe token) keep coming, each timed."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field

import httpx


@dataclass
class Timings:
    import_s: float = 0.0
    import_cpu_s: float = 0.0  # this process's CPU while the import ran (the writers' share included)
    api_writes: list[float] = field(default_factory=list)
    probe_batches: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # answers over 0.5 s during the import: (seconds since it started, seconds the answer took)
    slow: list[tuple[float, float]] = field(default_factory=list)
    # the same writers before the import started, for comparison
    api_alone: list[float] = field(default_factory=list)
    probe_alone: list[float] = field(default_factory=list)

    @staticmethod
    def worst(values: list[float]) -> float:
        return max(values) if values else 0.0


def clients_csv(rows: int) -> bytes:
    lines = ["code,name,contract_number"] + [f"C{i:06d},Client {i},K-{i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def run(app, admin_token: str, probe_token: str, asset_id: int, rows: int, alone_s: float = 0.0) -> Timings:
    """Import `rows` clients while writing beside it; every answer and its time
    recorded (and for `alone_s` seconds before, the writers without the import)."""
    timings = Timings()
    transport = httpx.ASGITransport(app=app)
    admin = httpx.AsyncClient(transport=transport, base_url="http://t", timeout=600,
                              headers={"Authorization": f"Bearer {admin_token}"})
    probe = httpx.AsyncClient(transport=transport, base_url="http://t", timeout=600,
                              headers={"Authorization": f"Bearer {probe_token}"})
    finished = asyncio.Event()
    importing_now = False
    import_started = 0.0

    def timed(during: list[float], alone: list[float], started: float) -> None:
        took = time.perf_counter() - started
        (during if importing_now else alone).append(took)
        if importing_now and took > 0.5:
            timings.slow.append((round(started - import_started, 1), round(took, 3)))

    async def importing() -> None:
        nonlocal importing_now, import_started
        await asyncio.sleep(alone_s)
        importing_now = True
        started, cpu = time.perf_counter(), time.process_time()
        import_started = started
        r = await admin.post("/api/v1/import/clients", content=clients_csv(rows), headers={"content-type": "text/csv"})
        timings.import_s = time.perf_counter() - started
        timings.import_cpu_s = time.process_time() - cpu
        if r.status_code != 200:
            timings.errors.append(f"import: {r.status_code} {r.text[:300]}")
        finished.set()

    async def writing() -> None:
        while not finished.is_set():
            started = time.perf_counter()
            r = await admin.post("/api/v1/sites", json={"name": f"Site {uuid.uuid4().hex[:8]}", "kind": "remote"})
            timed(timings.api_writes, timings.api_alone, started)
            if r.status_code != 201:
                timings.errors.append(f"site create: {r.status_code} {r.text[:300]}")
            await asyncio.sleep(0.2)

    async def posting() -> None:
        while not finished.is_set():
            now = dt.datetime.now(dt.timezone.utc).isoformat()
            batch = {"batch_id": uuid.uuid4().hex, "probe": "load", "observations": [
                {"asset_id": asset_id, "key": "reachability", "state": "ok", "observed_at": now, "source": "poll"}]}
            started = time.perf_counter()
            r = await probe.post("/api/v1/probe/observations", json=batch)
            timed(timings.probe_batches, timings.probe_alone, started)
            if r.status_code != 200:
                timings.errors.append(f"probe batch: {r.status_code} {r.text[:300]}")
            await asyncio.sleep(0.2)

    try:
        await asyncio.gather(importing(), writing(), posting())
    finally:
        await admin.aclose()
        await probe.aclose()
    return timings
