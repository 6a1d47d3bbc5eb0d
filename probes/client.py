"""The worker's side of the probe protocol: fetch targets, post observation
batches — through an on-disk spool, so nothing is lost while the server is away.

Every batch is written to the spool first (`<seq>-<batch id>.json`, seq
increasing) and then sent in seq order; a file is deleted only after the server
acknowledged it. The server applies each batch id once, so a batch that was
applied but whose acknowledgement got lost is simply acknowledged again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path

import httpx

from probes.wire import LEASE_HEADER, WORKER_HEADER, Observation, ObservationBatch, Target, utcnow

log = logging.getLogger("rackcard.probes.client")


class ServerUnavailable(Exception):
    """The server did not answer, or answered 5xx: try again later."""


class TokenRefused(ServerUnavailable):
    """The server refuses this worker's token (revoked, expired): nothing it sends is seen."""


class ServerRefused(Exception):
    """The server answered 4xx: retrying the same request will not help."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{status}: {detail}")
        self.status = status


class ServerClient:
    def __init__(self, server: str, token: str, spool_dir: str | Path, probe: str = "", timeout: float = 10.0,
                 worker_id: str = ""):
        self.server = server.rstrip("/")
        self.probe = probe
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        (self.spool_dir / "rejected").mkdir(exist_ok=True)
        headers = {"Authorization": f"Bearer {token}"}
        if worker_id:  # workers sharing one token hold their leases on targets apart by it
            headers[WORKER_HEADER] = worker_id
        self._http = httpx.AsyncClient(base_url=self.server, timeout=timeout, headers=headers)
        self.lease_s: float | None = None  # how long the server keeps our share of targets without news
        self._last_seq = 0
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            response = await self._http.request(method, "/api/v1" + path, **kw)
        except httpx.HTTPError as exc:
            raise ServerUnavailable(f"{self.server}: {exc.__class__.__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise ServerUnavailable(f"{self.server}: HTTP {response.status_code}")
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ServerRefused(response.status_code, str(detail))
        return response

    async def targets(self, site: str | None = None, lease: bool = True) -> list[Target]:
        """Our share of the targets, leased to us; lease=False: all of them, leasing nothing
        (a one-off poll beside the workers)."""
        params = {"site": site} if site else {}
        if not lease:
            params["lease"] = "false"
        response = await self._request("GET", "/probe/targets", params=params)
        try:
            self.lease_s = float(response.headers[LEASE_HEADER])
        except (KeyError, ValueError):  # an older server: no leases
            self.lease_s = None
        return [Target.from_dict(t) for t in response.json()]

    async def profile_data(self) -> dict:
        """The profile entries the server adds to the built-ins (its RACKCARD_PROFILES)."""
        response = await self._request("GET", "/probe/profiles")
        data = response.json().get("profiles")
        return data if isinstance(data, dict) else {}

    async def targets_version(self, since: str | None = None, wait: float = 0.0) -> str:
        """The server's targets version; with `since`, waits up to `wait` s for it to move
        (a long poll: a created or edited asset reaches the worker at once)."""
        params = {"wait": f"{wait:g}"}
        if since is not None:
            params["since"] = since
        response = await self._request("GET", "/probe/targets/version", params=params, timeout=wait + 10.0)
        return str(response.json()["version"])

    async def claim_power_job(self, site: str | None = None, wait: float = 0.0) -> dict | None:
        """The next power-cycle job of our site (marked ours on the server), or None
        after waiting up to `wait` s for one."""
        params = {"wait": f"{wait:g}", **({"site": site} if site else {})}
        response = await self._request("POST", "/probe/power-jobs/claim", params=params, timeout=wait + 10.0)
        return response.json().get("job")

    async def report_power_step(self, job_id: int, step: str, ok: bool, message: str, final: bool) -> None:
        await self._request("POST", f"/probe/power-jobs/{job_id}/steps",
                            json={"step": step, "ok": ok, "message": message, "final": final})

    async def send_now(self, observations: list[Observation], stats: dict | None = None) -> bool:
        """Post a batch at once, beside the spool queue (traps: never behind a slow
        poll batch). Spooled when the post fails, so nothing is lost; True when sent."""
        batch = ObservationBatch.new(observations, probe=self.probe, stats=stats)
        try:
            await self._request("POST", "/probe/observations", json=batch.to_dict())
            return True
        except (ServerUnavailable, ServerRefused) as exc:
            log.warning("posting a trap batch failed (%s); spooled", exc)
            self.spool(list(batch.observations), stats)
            return False

    # -- status
    STATUS_FILE = "worker.status"  # JSON; not *.json, which the spool reads as batches

    def report_status(self, state: str, reason: str) -> None:
        """Write this worker's state (ok | stale) next to its spool, for whoever runs it."""
        body = {"state": state, "reason": reason, "since": utcnow().isoformat(), "probe": self.probe,
                "server": self.server, "spooled": len(self.spooled())}
        tmp = self.spool_dir / (self.STATUS_FILE + ".tmp")
        tmp.write_text(json.dumps(body, indent=1) + "\n")
        os.replace(tmp, self.spool_dir / self.STATUS_FILE)

    # -- spool
    def spooled(self) -> list[Path]:
        return sorted(p for p in self.spool_dir.glob("*.json") if p.is_file())

    def spool(self, observations: list[Observation], stats: dict | None = None) -> ObservationBatch:
        """Write a new batch to the spool (in order); it is sent by `drain`."""
        batch = ObservationBatch.new(observations, probe=self.probe, stats=stats)
        existing = self.spooled()
        if existing:
            self._last_seq = max(self._last_seq, int(existing[-1].name.split("-", 1)[0]))
        seq = max(self._last_seq + 1, time.time_ns())
        self._last_seq = seq
        path = self.spool_dir / f"{seq:020d}-{batch.batch_id}.json"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(batch.to_dict(), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return batch

    def _set_aside(self, path: Path, why: str) -> None:
        """Move a spooled batch that can never be sent to `rejected/`, so it does not block the queue."""
        log.error("spooled batch %s %s; moved to %s", path.name, why, self.spool_dir / "rejected")
        os.replace(path, self.spool_dir / "rejected" / path.name)

    async def drain(self) -> int:
        """Send spooled batches oldest first; stop at the first that cannot be sent now.

        Returns the number sent; raises ServerUnavailable when the server is away
        (the rest stay spooled, in order).
        """
        sent = 0
        async with self._lock:
            for path in self.spooled():
                try:
                    body = json.loads(path.read_text())
                except (OSError, ValueError) as exc:  # a torn or corrupt file must not block the queue
                    self._set_aside(path, f"unreadable ({exc})")
                    continue
                try:
                    await self._request("POST", "/probe/observations", json=body)
                except ServerRefused as exc:
                    if exc.status == 401:
                        raise TokenRefused(f"the server refused the probe token: {exc}") from None
                    # A batch the server will never take (malformed, forbidden): set aside, keep going.
                    self._set_aside(path, f"refused ({exc})")
                    continue
                path.unlink()
                sent += 1
        return sent


class SpoolSlot:
    """A spool folder held by one running worker (an exclusive lock on its `.lock`).

    Workers started with one name on one volume (`docker compose up --scale
    probe=N`) each take the first free slot: NAME, NAME.2, NAME.3 … A worker that
    restarts takes a free slot back and replays what it left there; batches left in
    slots no worker holds (a scaled-down replica's) are taken over by the next
    worker that starts. Batch files are named by time, so adopted batches fall in
    order among the worker's own.
    """

    def __init__(self, path: Path, number: int, lock_file):
        self.path = path
        self.number = number
        self._lock_file = lock_file

    @classmethod
    def claim(cls, base: str | Path) -> "SpoolSlot":
        base = Path(base)
        number = 1
        while True:
            path = base if number == 1 else base.with_name(f"{base.name}.{number}")
            lock = _try_lock(path)
            if lock is not None:
                slot = cls(path, number, lock)
                slot._adopt_orphans(base)
                return slot
            number += 1

    def _adopt_orphans(self, base: Path) -> None:
        for other in sorted(base.parent.glob(f"{base.name}.*")) + [base]:
            if other == self.path or not other.is_dir() or not (other.name == base.name
                                                                or other.name[len(base.name) + 1:].isdigit()):
                continue
            lock = _try_lock(other, create=False)
            if lock is None:
                continue  # a running worker holds it
            try:
                moved = 0
                for batch in sorted(other.glob("*.json")):
                    os.replace(batch, self.path / batch.name)
                    moved += 1
                if moved:
                    log.warning("took over %d spooled batches left in %s by a worker no longer running",
                                moved, other)
            finally:
                lock.close()

    def release(self) -> None:
        self._lock_file.close()


def _try_lock(path: Path, create: bool = True):
    """An exclusive, non-blocking lock on PATH/.lock (the open file), or None when held."""
    import fcntl

    if create:
        path.mkdir(parents=True, exist_ok=True)
    elif not path.is_dir():
        return None
    lock = open(path / ".lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock
