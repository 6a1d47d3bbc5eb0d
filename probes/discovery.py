"""Interface discovery: what an agent's IF-MIB (and ENTITY-MIB) says its ports
are, so an engineer picks ports by name, never by a guessed ifIndex.

`discover(target, poller)` walks ifDescr/ifType/ifName/ifHighSpeed/ifAlias and
the admin/oper status columns (GETBULK, SNMPv2c or v3), plus entPhysicalName
and entAliasMappingIdentifier where present; `proposals(values)` is the pure
part: one Port per ifIndex with a proposed role from its name (fx/fiber/sfp ->
fiber, tp/copper/rj45 -> copper; loopbacks and management ports -> other).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from probes.interpret import Missing, PollResult
from probes.profiles import ENT_PHYSICAL_NAME, IF_ADMIN_STATUS, IF_ALIAS, IF_DESCR, IF_HIGH_SPEED, IF_NAME, IF_OPER_STATUS, IF_TYPE
from probes.wire import Target

IF_ADMIN = IF_ADMIN_STATUS.rsplit(".", 1)[0]
IF_OPER = IF_OPER_STATUS.rsplit(".", 1)[0]
ENT_ALIAS_MAPPING = "1.3.6.1.2.1.47.1.3.2.1.2"  # entAliasMappingIdentifier: entPhysicalIndex.0 -> ifIndex OID
COLUMNS = (IF_DESCR, IF_TYPE, IF_ADMIN, IF_OPER, IF_NAME, IF_HIGH_SPEED, IF_ALIAS, ENT_PHYSICAL_NAME, ENT_ALIAS_MAPPING)

IF_TYPES = {6: "ethernetCsmacd", 24: "softwareLoopback", 53: "propVirtual", 117: "gigabitEthernet", 131: "tunnel",
            135: "l2vlan", 136: "l3ipvlan", 161: "ieee8023adLag"}
_FIBER = re.compile(r"(^|[^a-z])(fx|fiber|fibre|sfp|optical|lx|sx)([^a-z]|$)|_fx$", re.I)
_COPPER = re.compile(r"(^|[^a-z])(tp|copper|rj45|utp|tx)([^a-z]|$)|_tp$", re.I)


@dataclass(frozen=True)
class Port:
    if_index: int
    if_name: str
    if_descr: str
    alias: str
    if_type: str
    speed_mbps: int | None
    admin: str
    oper: str
    role: str  # proposed: fiber | copper | other
    entity_name: str = ""  # ENTITY-MIB entPhysicalName of the port, where the agent maps it

    @property
    def name(self) -> str:
        return self.if_name or self.if_descr or f"ifIndex {self.if_index}"

    def to_dict(self) -> dict:
        return {**asdict(self), "name": self.name}


def propose_role(name: str, descr: str = "", if_type: int | None = None) -> str:
    """fiber / copper from the port's name (a person confirms it); else other."""
    if if_type == 24:
        return "other"
    for text in (name, descr):
        if _FIBER.search(text or ""):
            return "fiber"
        if _COPPER.search(text or ""):
            return "copper"
    return "other"


def _column(values: Mapping[str, Any], column: str) -> dict[str, Any]:
    prefix = column + "."
    return {oid[len(prefix):]: v for oid, v in values.items() if oid.startswith(prefix) and not isinstance(v, Missing)}


_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}


def proposals(values: Mapping[str, Any]) -> list[Port]:
    """Walked values -> one Port per ifIndex, in ifIndex order."""
    descr, types = _column(values, IF_DESCR), _column(values, IF_TYPE)
    names, aliases, speeds = _column(values, IF_NAME), _column(values, IF_ALIAS), _column(values, IF_HIGH_SPEED)
    admin, oper = _column(values, IF_ADMIN), _column(values, IF_OPER)
    entity_names = _column(values, ENT_PHYSICAL_NAME)
    entity_of: dict[str, str] = {}
    for index, target in _column(values, ENT_ALIAS_MAPPING).items():
        if isinstance(target, str) and target.startswith("1.3.6.1.2.1.2.2.1.1."):
            entity_of[target.rsplit(".", 1)[1]] = entity_names.get(index.split(".")[0], "")
    ports = []
    for index in sorted({*descr, *names, *types}, key=lambda i: int(i) if i.isdigit() else -1):
        if not index.isdigit():
            continue
        if_type = types.get(index) if isinstance(types.get(index), int) else None
        name, description = str(names.get(index) or ""), str(descr.get(index) or "")
        ports.append(Port(
            if_index=int(index), if_name=name, if_descr=description, alias=str(aliases.get(index) or ""),
            if_type=IF_TYPES.get(if_type, str(if_type or "")), speed_mbps=speeds.get(index) if isinstance(speeds.get(index), int) else None,
            admin=_STATUS.get(admin.get(index), str(admin.get(index, ""))),
            oper=_STATUS.get(oper.get(index), str(oper.get(index, ""))),
            role=propose_role(name, description, if_type), entity_name=str(entity_of.get(index, "")),
        ))
    return ports


def entity_names(values: Mapping[str, Any]) -> list[str]:
    return [str(v) for _, v in sorted(_column(values, ENT_PHYSICAL_NAME).items()) if v]


async def discover(target: Target, poller) -> tuple[PollResult, list[Port]]:
    """Walk the agent's interface (and entity) tables; the ports found, or the result saying why not."""
    result = await poller.walk(target, COLUMNS)
    return result, proposals(result.values) if result.status == "ok" else []
