"""Trap receiver: SNMPv1/v2c notifications -> observations, at once (traps are
confirmed immediately). The sender address is matched to the targets' `host`
(the asset's mgmt_ip); several assets may share one address (slots of a
chassis). Unknown senders and unknown notifications are logged and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Callable, Iterable, Mapping, Sequence

from probes.interpret import interpret_trap
from probes.profiles import SNMP_TRAP_OID, Profile, installed_profiles, profile_for
from probes.wire import Observation, Target, utcnow

log = logging.getLogger("rackcard.probes.traps")


class TrapHandler:
    """The protocol-free part: (sender, varbinds) -> observations and counters."""

    def __init__(self, emit: Callable[[list[Observation]], None], profiles: Mapping[str, Profile] | None = None):
        self.emit = emit
        self.profiles = profiles or installed_profiles()
        self.by_host: dict[str, list[Target]] = {}
        self.counters: Counter = Counter()

    def set_targets(self, targets: Iterable[Target]) -> None:
        by_host: dict[str, list[Target]] = {}
        for t in targets:
            by_host.setdefault(t.host, []).append(t)
        self.by_host = by_host

    def handle(self, source: str, varbinds: dict) -> list[Observation]:
        self.counters["received"] += 1
        targets = self.by_host.get(source)
        trap_oid = varbinds.get(SNMP_TRAP_OID)
        if not targets:
            self.counters["unknown_sender"] += 1
            log.warning("trap %s from unknown sender %s (no asset has this mgmt_ip)", trap_oid, source)
            return []
        observed_at = utcnow().isoformat()
        found: list[Observation] = []
        known = False
        for target in targets:
            result = interpret_trap(target, profile_for(target.kind, target.profile, self.profiles), varbinds, observed_at)
            if result is not None:
                known = True
                found.extend(result)
        if not known:
            self.counters["unknown_trap"] += 1
            log.warning("unknown trap %s from %s (%s)", trap_oid, source, targets[0].name)
            return []
        self.counters["applied" if found else "ignored"] += 1
        if found:
            self.emit(found)
        return found


class TrapReceiver:
    """A UDP listener feeding a TrapHandler."""

    def __init__(self, handler: TrapHandler, host: str = "0.0.0.0", port: int = 1162, communities: Sequence[str] = ("public",)):
        self.handler = handler
        self.host = host
        self.port = port
        self.communities = communities
        self._listener = None

    async def start(self) -> "TrapReceiver":
        from probes.snmp import open_trap_listener

        self._listener = await open_trap_listener(self.host, self.port, self.handler.handle, self.communities)
        self.port = self._listener.port or self.port
        log.info("trap receiver listening on udp %s:%d", self.host, self.port)
        return self

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def __aenter__(self) -> "TrapReceiver":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        self.close()
