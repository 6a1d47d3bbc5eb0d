"""Trap receiver: SNMPv1/v2c notifications -> observations, at once (traps are
confirmed immediately). The sender address is matched to the targets' `host`
(the asset's mgmt_ip); when several assets share one address (slots of a
chassis, a proxy, NAT) the trap's varbinds pick exactly one, or it is counted
as ambiguous and dropped — never fanned out to every candidate. Unknown
senders and unknown notifications are logged and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Callable, Iterable, Mapping, Sequence

from probes.interpret import _if_index as trap_if_index
from probes.interpret import interpret_trap
from probes.profiles import SNMP_TRAP_OID, SYS_NAME, Profile, builtin_profiles, profile_for
from probes.wire import Observation, Target, utcnow

log = logging.getLogger("rackcard.probes.traps")

SNMP_TRAP_ADDRESS = "1.3.6.1.6.3.18.1.3.0"  # snmpTrapAddress.0: an SNMPv1 trap's agent-addr (RFC 3584)
UPS_MIB = "1.3.6.1.2.1.33"


class TrapHandler:
    """The protocol-free part: (sender, varbinds) -> observations and counters."""

    def __init__(self, emit: Callable[[list[Observation]], None], profiles: Mapping[str, Profile] | None = None):
        self.emit = emit
        self.profiles = profiles or builtin_profiles()
        self.by_host: dict[str, list[Target]] = {}
        self.counters: Counter = Counter()

    def set_targets(self, targets: Iterable[Target]) -> None:
        by_host: dict[str, list[Target]] = {}
        for t in targets:
            by_host.setdefault(t.host, []).append(t)
        self.by_host = by_host

    def attribute(self, source: str, varbinds: dict) -> list[Target]:
        """The assets a trap may be about: those at its sender address (or at the
        SNMPv1 agent address it carries, for a trap relayed by a proxy or NAT),
        narrowed by its own evidence when several share the address — sysName,
        the kind a UPS-MIB trap is about, the ifIndex that exists on only one of
        them. More than one left = ambiguous (the caller drops it)."""
        agent = varbinds.get(SNMP_TRAP_ADDRESS)
        if agent is not None and str(agent) != source and str(agent) in self.by_host:
            targets = self.by_host[str(agent)]
        else:
            targets = self.by_host.get(source, [])
        trap_oid = str(varbinds.get(SNMP_TRAP_OID) or "")
        name = varbinds.get(SYS_NAME)
        if_index = trap_if_index(varbinds)
        for keep in (
            (lambda t: str(name).strip().lower() in (t.name.lower(), (t.community or "").lower())) if name else None,
            (lambda t: t.kind == "ups") if trap_oid.startswith(UPS_MIB + ".") else None,
            (lambda t: any(i.if_index == if_index for i in t.interfaces)) if if_index is not None else None,
        ):
            if len(targets) <= 1:
                break
            narrowed = [t for t in targets if keep is not None and keep(t)]
            if narrowed:
                targets = narrowed
        return targets

    def handle(self, source: str, varbinds: dict) -> list[Observation]:
        self.counters["received"] += 1
        trap_oid = varbinds.get(SNMP_TRAP_OID)
        targets = self.attribute(source, varbinds)
        if not targets:
            self.counters["unknown_sender"] += 1
            log.warning("trap %s from unknown sender %s (no asset has this mgmt_ip)", trap_oid, source)
            return []
        if len(targets) > 1:
            self.counters["ambiguous_sender"] += 1
            log.warning("trap %s from %s not attributed: %d assets share that address (%s) and nothing in the trap "
                        "(ifIndex, sysName, agent address) tells them apart", trap_oid, source, len(targets),
                        ", ".join(t.name for t in targets[:5]) + (" ..." if len(targets) > 5 else ""))
            return []
        target = targets[0]
        found = interpret_trap(target, profile_for(target.kind, target.profile, self.profiles), varbinds,
                               utcnow().isoformat())
        if found is None:
            self.counters["unknown_trap"] += 1
            log.warning("unknown trap %s from %s (%s)", trap_oid, source, target.name)
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
