"""The probe worker: scheduler (per-asset interval with jitter), poller, trap
receiver and the spooling server client, on one event loop. It never touches
the database: targets come from the server and observations go back to it.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from probes.client import ServerClient, ServerRefused, ServerUnavailable, TokenRefused
from probes.interpret import PollResult, interpret, oids_of, plan
from probes.profiles import Profile, builtin_profiles, profile_for
from probes.wire import Observation, Target, utcnow

log = logging.getLogger("rackcard.probes.worker")

def default_poller():
    """One poller (hence one SnmpEngine) per event loop, for one-off polls."""
    from probes.snmp import default_poller as per_loop

    return per_loop()


async def poll_once(target: Target, poller=None, profiles: Mapping[str, Profile] | None = None) -> list[Observation]:
    """Poll one asset now and interpret what came back. Never raises for device trouble."""
    poller = poller or default_poller()
    profiles = profiles or builtin_profiles()
    planned = plan(target, profile_for(target.kind, target.profile, profiles))
    try:
        result = await poller.get(target, oids_of(planned))
    except Exception as exc:  # a bug in one poll must not stop the loop
        log.exception("poll of %s failed", target.name)
        result = PollResult("error", message=f"poll failed: {exc}")
    return interpret(target, planned, result, utcnow().isoformat())


#: The exit code of a worker that stopped because the server refused its token.
EXIT_TOKEN_REFUSED = 3


class TokenRefusedExit(Exception):
    """Raised inside the worker to stop it when its token is refused (exit_on_refused)."""


class Outbox:
    """Collects observations and hands them to the client as batches, via the spool."""

    def __init__(self, client: ServerClient, flush_s: float = 1.0, max_batch: int = 1000,
                 max_backoff_s: float = 30.0, stats: Callable[[], dict] | None = None):
        self.client = client
        self.flush_s = flush_s
        self.max_batch = max_batch
        self.max_backoff_s = max_backoff_s
        self.stats = stats or (lambda: {})
        self._pending: list[Observation] = []
        self._wake = asyncio.Event()
        self._backoff = 0.0
        self._retry_at = 0.0
        self.server_up = True
        self.token_refused = asyncio.Event()  # set while the server refuses our token: we are stale

    def add(self, observations: Iterable[Observation]) -> None:
        self._pending.extend(observations)
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    def spool_pending(self) -> int:
        """Move what is pending into spooled batches (in order)."""
        count = 0
        while self._pending:
            chunk, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
            self.client.spool(chunk, self.stats())
            count += 1
        return count

    async def flush(self) -> None:
        self.spool_pending()
        if time.monotonic() < self._retry_at:
            return
        try:
            await self.client.drain()
        except ServerUnavailable as exc:
            self._backoff = min(self.max_backoff_s, max(self.flush_s, self._backoff * 2 or self.flush_s))
            self._retry_at = time.monotonic() + self._backoff
            if isinstance(exc, TokenRefused):
                self.refused(str(exc))
            elif self.server_up:
                log.warning("server unavailable (%s); spooling to %s", exc, self.client.spool_dir)
            self.server_up = False
            return
        if not self.server_up:
            log.info("server back; spool replayed")
        self.server_up = True
        self._backoff = 0.0
        if self.token_refused.is_set():
            self.token_refused.clear()
            self.client.report_status("ok", "the server takes our batches again")

    def refused(self, why: str) -> None:
        """Our token is refused: say so loudly, once, and report ourselves stale
        (status file in the spool dir); batches keep spooling, nothing is lost."""
        if not self.token_refused.is_set():
            log.error("STALE: %s — this worker's observations are spooled but no one sees them; "
                      "the server raises a 'probe stale' incident. Give the worker a new token.", why)
            self.client.report_status("stale", why)
        self.token_refused.set()

    async def run(self) -> None:
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.flush_s)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()
                try:
                    await self.flush()
                except Exception:  # a full disk, a bug: log it, keep the worker alive, try again
                    log.exception("flushing observations failed")
        finally:
            self.spool_pending()  # nothing is lost on shutdown: it goes out on the next start


class Scheduler:
    """Polls each target every `interval_s` (+-jitter), spreading first polls out."""

    def __init__(self, emit: Callable[[list[Observation]], None], poller=None,
                 profiles: Mapping[str, Profile] | None = None, jitter: float = 0.1, max_tasks: int = 256):
        self.emit = emit
        self.poller = poller
        self.profiles = profiles or builtin_profiles()
        self.jitter = jitter
        self.targets: dict[int, Target] = {}
        self._heap: list[tuple[float, int]] = []
        self._changed = asyncio.Event()
        self._tasks = asyncio.Semaphore(max_tasks)
        self._running: set[asyncio.Task] = set()
        self.counters: Counter = Counter()

    def set_targets(self, targets: Iterable[Target]) -> None:
        now = time.monotonic()
        fresh = {t.asset_id: t for t in targets}
        for asset_id, target in fresh.items():
            if asset_id not in self.targets:
                # the first poll soon, spread over a few seconds so a big list does not burst
                heapq.heappush(self._heap, (now + random.uniform(0, min(target.interval_s, 5.0)), asset_id))
        self.targets = fresh
        self._changed.set()

    def _next_delay(self, target: Target) -> float:
        return target.interval_s * random.uniform(1 - self.jitter, 1 + self.jitter)

    async def _poll(self, target: Target) -> None:
        try:
            observations = await poll_once(target, self.poller, self.profiles)
            self.counters["polls"] += 1
            if observations and observations[0].key == "reachability" and observations[0].state != "ok":
                self.counters["unanswered"] += 1
            self.emit(observations)
        finally:
            self._tasks.release()

    async def run(self) -> None:
        if self.poller is None:
            self.poller = default_poller()
        try:
            while True:
                if not self._heap:
                    self._changed.clear()
                    await self._changed.wait()
                    continue
                due, asset_id = self._heap[0]
                delay = due - time.monotonic()
                if delay > 0:
                    self._changed.clear()
                    try:
                        await asyncio.wait_for(self._changed.wait(), delay)
                    except asyncio.TimeoutError:
                        pass
                    continue
                heapq.heappop(self._heap)
                target = self.targets.get(asset_id)
                if target is None:
                    continue  # removed from the target list
                next_due = due + self._next_delay(target)
                if next_due < time.monotonic():  # we fell behind: do not burst to catch up
                    next_due = time.monotonic() + random.uniform(0, target.interval_s * self.jitter)
                heapq.heappush(self._heap, (next_due, asset_id))
                await self._tasks.acquire()
                task = asyncio.create_task(self._poll(target))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
        finally:
            for task in list(self._running):
                task.cancel()


@dataclass
class WorkerConfig:
    server: str
    token: str
    spool_dir: Path
    site: str | None = None
    probe: str = ""
    trap_host: str | None = "0.0.0.0"  # None: no trap receiver
    trap_port: int = 1162
    trap_communities: tuple[str, ...] = ("public",)
    refresh_s: float = 60.0
    flush_s: float = 1.0
    timeout_s: float = 1.0
    retries: int = 1
    max_in_flight: int = 64
    profiles_file: str | None = None
    exit_on_refused: bool = False  # embedded: stop when the token is refused (the server renews it)


class Worker:
    def __init__(self, config: WorkerConfig):
        from probes.snmp import SnmpPoller
        from probes.traps import TrapHandler, TrapReceiver

        self.config = config
        self.profiles = builtin_profiles(config.profiles_file)
        self.client = ServerClient(config.server, config.token, config.spool_dir, probe=config.probe)
        self.outbox = Outbox(self.client, flush_s=config.flush_s, stats=self.stats)
        self.poller = None
        self._poller_factory = lambda: SnmpPoller(config.timeout_s, config.retries, config.max_in_flight)
        self.scheduler = Scheduler(self.outbox.add, None, self.profiles)
        self.traps = TrapHandler(self.outbox.add, self.profiles)
        self.receiver = (
            TrapReceiver(self.traps, config.trap_host, config.trap_port, config.trap_communities)
            if config.trap_host is not None else None
        )
        self.targets_loaded = asyncio.Event()

    def stats(self) -> dict:
        return {**{f"polls_{k}": v for k, v in self.scheduler.counters.items()},
                **{f"traps_{k}": v for k, v in self.traps.counters.items()}}

    async def refresh_targets(self) -> bool:
        try:
            targets = await self.client.targets(self.config.site)
        except (ServerUnavailable, ServerRefused) as exc:
            if isinstance(exc, ServerRefused) and exc.status == 401:
                self.outbox.refused(f"the server refused the probe token: {exc}")
            else:
                log.warning("cannot fetch targets: %s", exc)
            return False
        except Exception:  # a malformed answer: keep the old targets
            log.exception("cannot read the targets")
            return False
        self.scheduler.set_targets(targets)
        self.traps.set_targets(targets)
        if not self.targets_loaded.is_set():
            log.info("polling %d assets%s", len(targets), f" of site {self.config.site}" if self.config.site else "")
        self.targets_loaded.set()
        return True

    async def _exit_when_refused(self) -> None:
        """An embedded worker whose token is refused stops (exit code EXIT_TOKEN_REFUSED),
        so the server that started it hands it a fresh token."""
        await self.outbox.token_refused.wait()
        raise TokenRefusedExit()

    async def _refresh_loop(self) -> None:
        while True:
            ok = await self.refresh_targets()
            await asyncio.sleep(self.config.refresh_s if ok else min(5.0, self.config.refresh_s))

    async def run(self) -> None:
        self.poller = self._poller_factory()
        self.scheduler.poller = self.poller
        if self.receiver is not None:
            try:
                await self.receiver.start()
            except Exception as exc:  # e.g. the port is taken: keep polling without traps
                log.error("trap receiver not started on %s:%s: %s", self.config.trap_host, self.config.trap_port, exc)
                self.receiver = None
        refused = False
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._refresh_loop())
                group.create_task(self.scheduler.run())
                group.create_task(self.outbox.run())
                if self.config.exit_on_refused:
                    group.create_task(self._exit_when_refused())
        except* TokenRefusedExit:
            refused = True
        finally:
            if self.receiver is not None:
                self.receiver.close()
            await self.outbox.flush()
            await self.client.aclose()
        if refused:
            raise TokenRefusedExit()
