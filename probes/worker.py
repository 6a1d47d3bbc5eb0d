"""The probe worker: scheduler (per-asset interval with jitter), poller, trap
receiver and the spooling server client, on one event loop. It never touches
the database: targets come from the server and observations go back to it.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import random
import re
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from probes.client import ServerClient, ServerRefused, ServerUnavailable, TokenRefused
from probes.interpret import PollResult, interpret, oids_of, plan, readability, walks_of
from probes.profiles import (
    AUTO, SYS_OBJECT_ID, Profile, auto_profile, builtin_profiles, installed_profiles, profile_for, profiles_from_env,
)
from probes.wire import OK, UNKNOWN, WORKER_ID_CHARS, Observation, Target, utcnow

log = logging.getLogger("rackcard.probes.worker")

def default_poller():
    """One poller (hence one SnmpEngine) per event loop, for one-off polls."""
    from probes.snmp import default_poller as per_loop

    return per_loop()


@dataclass
class AssetMemory:
    """What a poller remembers of one asset between polls."""

    sys_object_id: str | None = None  # read once for `auto`; "" = the agent has none
    unreadable: int = 0  # polls in a row with unreadable checks
    discover: bool = False  # a newly created asset: report its interfaces after the first poll
    uptime: int | None = None  # last sysUpTime ticks: going back (a restart, a replaced device) re-reads sysObjectID


async def choose_profile(target: Target, poller, profiles: Mapping[str, Profile], memory: AssetMemory
                         ) -> tuple[Profile, str]:
    """The asset's profile and how it was chosen. `auto` (or no profile) reads
    sysObjectID once (one extra GET on the first poll) and picks by it."""
    if target.profile and target.profile != AUTO and target.profile in profiles:
        return profiles[target.profile], "set on the asset"
    if memory.sys_object_id is None:
        result = await poller.get(target, [SYS_OBJECT_ID])
        if result.status == "ok":
            raw = result.values.get(SYS_OBJECT_ID)
            memory.sys_object_id = raw if isinstance(raw, str) else ""
    found = auto_profile(memory.sys_object_id, profiles)
    if found is not None:
        return found, f"auto: sysObjectID {memory.sys_object_id}"
    default = profile_for(target.kind, None, profiles)
    return default, f"default for {target.kind}" + (" (unknown profile name)" if target.profile not in (None, "", AUTO) else "")


def _note_uptime(memory: AssetMemory, observations: list[Observation]) -> None:
    for o in observations:
        if o.key == "uptime" and o.value is not None and o.value.isascii() and o.value.isdigit():
            ticks = int(o.value)
            if memory.uptime is not None and ticks < memory.uptime:
                memory.sys_object_id = None  # maybe another device now: choose its profile again
            memory.uptime = ticks


async def poll_once(target: Target, poller=None, profiles: Mapping[str, Profile] | None = None,
                    memory: AssetMemory | None = None) -> list[Observation]:
    """Poll one asset now and interpret what came back. Never raises for device trouble.

    The last observation is the `profile` check: which profile was used (and
    why), or "not readable: wrong profile?" after unreadable polls in a row."""
    poller = poller or default_poller()
    profiles = profiles or installed_profiles()
    memory = memory if memory is not None else AssetMemory()
    try:
        profile, chosen = await choose_profile(target, poller, profiles, memory)
        planned = plan(target, profile)
        result = await poller.get(target, oids_of(planned), walks_of(planned))
    except Exception as exc:  # a bug in one poll must not stop the loop
        log.exception("poll of %s failed", target.name)
        profile, chosen, planned = profile_for(target.kind, None, profiles), "", []
        result = PollResult("error", message=f"poll failed: {exc}")
    observations = interpret(target, planned, result, utcnow().isoformat())
    _note_uptime(memory, observations)
    summary, memory.unreadable = readability(target, profile, chosen, observations, memory.unreadable)
    if summary is not None:
        observations.append(summary)
    return observations


async def discovery_observation(target: Target, poller) -> Observation:
    """What a new asset's agent says its interfaces are, as the asset's `discovery`
    check: the engineer sees the ports by name (and picks them with --discover)."""
    from probes.discovery import discover

    result, ports = await discover(target, poller)
    if result.status != "ok":
        state, message = UNKNOWN, f"interface discovery failed: {result.message}"
    else:
        listed = ", ".join(f"{p.name} ({p.if_index}, {p.role})" for p in ports[:60])
        more = f" and {len(ports) - 60} more" if len(ports) > 60 else ""
        state, message = OK, (f"{len(ports)} interfaces: {listed}{more}. Pick ports by name: "
                              f"POST /api/v1/assets/{target.asset_id}/discover")
    return Observation(asset_id=target.asset_id, key="discovery", state=state, observed_at=utcnow().isoformat(),
                       source="poll", value=str(len(ports)), message=message)


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
        self.profiles = profiles or installed_profiles()
        self.jitter = jitter
        self.targets: dict[int, Target] = {}
        self.memory: dict[int, AssetMemory] = {}
        self._heap: list[tuple[float, int, int]] = []  # (due, asset id, generation)
        self._generation: dict[int, int] = {}  # an asset's live heap entry; older ones are dropped
        self._changed = asyncio.Event()
        self._tasks = asyncio.Semaphore(max_tasks)
        self._running: set[asyncio.Task] = set()
        self.counters: Counter = Counter()

    def set_targets(self, targets: Iterable[Target]) -> None:
        now = time.monotonic()
        fresh = {t.asset_id: t for t in targets}
        many = sum(1 for a in fresh if a not in self.targets) > 20
        for asset_id, target in fresh.items():
            before = self.targets.get(asset_id)
            if before is None and many:
                # the first poll soon, spread over a few seconds so a big list does not burst
                self._schedule(asset_id, now + random.uniform(0, min(target.interval_s, 5.0)))
            elif before != target:
                # a created or edited asset: poll it now (an engineer is watching)
                self._schedule(asset_id, now + random.uniform(0, 0.2))
                if before is None:
                    self.memory.setdefault(asset_id, AssetMemory()).discover = True
                if before is not None and (before.profile, before.host, before.port) != (target.profile, target.host, target.port):
                    self.memory.pop(asset_id, None)
        for gone in set(self.memory) - set(fresh):
            del self.memory[gone]
        self.targets = fresh
        self._changed.set()

    def _schedule(self, asset_id: int, due: float) -> None:
        generation = self._generation.get(asset_id, 0) + 1
        self._generation[asset_id] = generation
        heapq.heappush(self._heap, (due, asset_id, generation))

    def _next_delay(self, target: Target) -> float:
        return target.interval_s * random.uniform(1 - self.jitter, 1 + self.jitter)

    async def _poll(self, target: Target) -> None:
        try:
            memory = self.memory.setdefault(target.asset_id, AssetMemory())
            observations = await poll_once(target, self.poller, self.profiles, memory)
            if memory.discover and observations and observations[0].state == "ok":
                memory.discover = False
                observations.append(await discovery_observation(target, self.poller))
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
                due, asset_id, generation = self._heap[0]
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
                if target is None or generation != self._generation.get(asset_id):
                    continue  # removed from the target list, or rescheduled

                next_due = due + self._next_delay(target)
                if next_due < time.monotonic():  # we fell behind: do not burst to catch up
                    next_due = time.monotonic() + random.uniform(0, target.interval_s * self.jitter)
                self._schedule(asset_id, next_due)
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
    profiles_file: str | None = None  # default RACKCARD_PROFILES
    long_poll_s: float = 25.0
    exit_on_refused: bool = False  # embedded: stop when the token is refused (the server renews it)
    worker_id: str = ""  # default NAME@HOST: one per spool, so a restarted worker takes its leases back
    spool_slot: int = 1  # probes.client.SpoolSlot's number: the default id of slot N > 1 is NAME@HOST.N


class Worker:
    def __init__(self, config: WorkerConfig):
        from probes.snmp import SnmpPoller
        from probes.traps import TrapHandler, TrapReceiver

        self.config = config
        # A set given here (--profiles / RACKCARD_PROFILES) wins; else the server's (fetched with the targets).
        self.local_profiles = bool(config.profiles_file or os.environ.get("RACKCARD_PROFILES"))
        self.profiles = builtin_profiles(config.profiles_file) if config.profiles_file else profiles_from_env()
        default_id = f"{config.probe or 'probe'}@{socket.gethostname()}" + (
            f".{config.spool_slot}" if config.spool_slot > 1 else "")
        worker_id = re.sub(f"[^{WORKER_ID_CHARS}]", "-", config.worker_id or default_id)[:60]
        self.client = ServerClient(config.server, config.token, config.spool_dir, probe=config.probe,
                                   worker_id=worker_id)
        self.outbox = Outbox(self.client, flush_s=config.flush_s, stats=self.stats)
        self.poller = None
        self._poller_factory = lambda: SnmpPoller(config.timeout_s, config.retries, config.max_in_flight)
        self.scheduler = Scheduler(self.outbox.add, None, self.profiles)
        self.traps = TrapHandler(self._trap_observations, self.profiles)
        self._trap_posts: set[asyncio.Task] = set()
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
        if not self.local_profiles:
            await self._server_profiles()
        self.scheduler.set_targets(targets)
        self.traps.set_targets(targets)
        if not self.targets_loaded.is_set():
            log.info("polling %d assets%s", len(targets), f" of site {self.config.site}" if self.config.site else "")
        self.targets_loaded.set()
        return True

    async def _server_profiles(self) -> None:
        """Poll with the server's profile set (its RACKCARD_PROFILES), so every poller reads alike."""
        try:
            data = await self.client.profile_data()
            profiles = builtin_profiles(data) if data else builtin_profiles()
        except ServerRefused:  # an older server: the built-ins
            return
        except Exception as exc:  # unreachable or a bad set: keep the current one
            log.warning("cannot load the server's profiles: %s", exc)
            return
        self.profiles = self.scheduler.profiles = self.traps.profiles = profiles

    def _trap_observations(self, observations: list[Observation]) -> None:
        """A trap's observations go out at once, in their own request (not on the batch timer)."""
        task = asyncio.get_running_loop().create_task(self.client.send_now(list(observations), self.stats()))
        self._trap_posts.add(task)
        task.add_done_callback(self._trap_posts.discard)

    async def _version(self, since: str | None, wait: float) -> str | None:
        try:
            return await self.client.targets_version(since, wait)
        except ServerRefused:  # a server without the long poll: plain refreshes
            await asyncio.sleep(wait)
        except (ServerUnavailable, ValueError, KeyError) as exc:
            log.debug("targets version: %s", exc)
            await asyncio.sleep(min(5.0, wait))
        return None

    async def _exit_when_refused(self) -> None:
        """An embedded worker whose token is refused stops (exit code EXIT_TOKEN_REFUSED),
        so the server that started it hands it a fresh token."""
        await self.outbox.token_refused.wait()
        raise TokenRefusedExit()

    def _refresh_every(self) -> float:
        """refresh_s, or often enough to renew our lease on the targets (and take over a dead worker's)."""
        lease = self.client.lease_s
        return min(self.config.refresh_s, lease / 4) if lease else self.config.refresh_s

    async def _refresh_loop(self) -> None:
        """Targets at start, then whenever the server's targets version moves (long poll),
        and every refresh_s anyway."""
        while True:
            version = await self._version(None, 0.0)
            ok = await self.refresh_targets()
            if not ok:
                await asyncio.sleep(min(5.0, self.config.refresh_s))
                continue
            deadline = time.monotonic() + self._refresh_every()
            while (left := deadline - time.monotonic()) > 0:
                seen = await self._version(version, min(self.config.long_poll_s, left))
                if seen is None or seen != version:
                    break

    async def _report_step(self, job_id: int, step: str, ok: bool, message: str, final: bool) -> None:
        """Tell the server; a few tries while it is away (the cycle itself goes on regardless)."""
        for attempt in range(5):
            try:
                await self.client.report_power_step(job_id, step, ok, message, final)
                return
            except ServerRefused as exc:
                log.error("power job %s: the server refused step %s: %s", job_id, step, exc)
                return
            except ServerUnavailable as exc:
                log.warning("power job %s: cannot report step %s (%s)", job_id, step, exc)
                await asyncio.sleep(min(10.0, 1.0 * 2 ** attempt))

    async def _run_power_job(self, data: dict) -> None:
        from probes.power import PowerJob, run_job

        try:
            job = PowerJob.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            log.error("a malformed power job: %s", exc)
            return
        try:
            await run_job(job, self.poller, self.profiles, lambda *a: self._report_step(job.job_id, *a),
                          lambda observations: self.client.send_now(observations, self.stats()))
        except Exception as exc:  # a bug must not leave the job silent: say it failed
            log.exception("power job %s failed", job.job_id)
            await self._report_step(job.job_id, "failed", False, f"the probe worker failed: {exc}", True)

    async def _power_loop(self) -> None:
        """Take power-cycle jobs of our site from the server (a long poll) and run each at once."""
        running: set[asyncio.Task] = set()
        try:
            while True:
                try:
                    data = await self.client.claim_power_job(self.config.site, self.config.long_poll_s)
                except ServerRefused as exc:  # an older server, or a token it refuses: ask rarely
                    log.debug("power jobs: %s", exc)
                    await asyncio.sleep(60.0)
                    continue
                except ServerUnavailable as exc:
                    log.debug("power jobs: %s", exc)
                    await asyncio.sleep(5.0)
                    continue
                if data:
                    task = asyncio.create_task(self._run_power_job(data))
                    running.add(task)
                    task.add_done_callback(running.discard)
        finally:
            for task in list(running):
                task.cancel()

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
                group.create_task(self._power_loop())
                if self.config.exit_on_refused:
                    group.create_task(self._exit_when_refused())
        except* TokenRefusedExit:
            refused = True
        finally:
            if self.receiver is not None:
                self.receiver.close()
            for task in list(self._trap_posts):
                await asyncio.wait([task], timeout=5)
            await self.outbox.flush()
            await self.client.aclose()
        if refused:
            raise TokenRefusedExit()
