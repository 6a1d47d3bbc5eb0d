"""Raw SNMP values -> observations. Pure: no I/O, no pysnmp, no clock.

probes.snmp turns pysnmp's types into plain Python values before they get here:
int for INTEGER/Gauge/Counter/TimeTicks, str for OCTET STRING and OIDs, and
`Missing(reason)` for noSuchInstance/noSuchObject/endOfMibView.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from probes.profiles import (
    SNMP_TRAP_OID,
    TRAP_DATA,
    UPS_ALARM_OTHER,
    UPS_ALARMS,
    UPS_WELL_KNOWN_ALARMS,
    CheckSpec,
    Profile,
)
from probes.wire import CRITICAL, OK, UNKNOWN, WARNING, Observation, Target

REACHABILITY = "reachability"


@dataclass(frozen=True)
class Missing:
    """The agent answered, but not with a value (noSuchInstance, noSuchObject, endOfMibView)."""

    reason: str


@dataclass(frozen=True)
class PollResult:
    """What one poll of one asset got back from the network."""

    status: str  # ok | timeout | auth | error
    values: Mapping[str, Any] = field(default_factory=dict)  # OID -> plain value or Missing
    message: str = ""
    elapsed_ms: float = 0.0
    tries: int = 1


@dataclass(frozen=True)
class PlannedCheck:
    key: str
    spec: CheckSpec
    oids: Mapping[str, str]  # role -> concrete OID


def plan(target: Target, profile: Profile) -> list[PlannedCheck]:
    """The concrete checks (and OIDs) of one asset under its profile."""
    planned = []
    for spec in profile.checks:
        if not spec.per_interface:
            planned.append(PlannedCheck(spec.key, spec, dict(spec.oids)))
            continue
        for iface in target.interfaces:
            if iface.role in spec.interfaces:
                fill = {"if_index": iface.if_index}
                planned.append(
                    PlannedCheck(spec.key.format(**fill), spec, {r: o.format(**fill) for r, o in spec.oids.items()})
                )
    return planned


def oids_of(planned: list[PlannedCheck]) -> list[str]:
    """Every OID to GET, once each, in a stable order."""
    seen: dict[str, None] = {}
    for check in planned:
        for oid in check.oids.values():
            seen.setdefault(oid, None)
    return list(seen)


# ------------------------------------------------------------------ rules
# A rule: (values by role, params) -> (state, value, message, number)


class _Bad(Exception):
    """A value is missing or of the wrong type: the check is UNKNOWN with this reason."""


def _int(values: Mapping[str, Any], role: str, oids: Mapping[str, str]) -> int:
    raw = values.get(role)
    if isinstance(raw, Missing):
        raise _Bad(f"{role}: {raw.reason} at {oids[role]}")
    if raw is None:
        raise _Bad(f"{role}: no value for {oids[role]}")
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _Bad(f"{role}: expected an integer at {oids[role]}, got {type(raw).__name__} {raw!r}")
    return raw


def _number(values: Mapping[str, Any], role: str, oids: Mapping[str, str]) -> float:
    raw = values.get(role)
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            raise _Bad(f"{role}: expected a number at {oids[role]}, got {raw!r}") from None
    return float(_int(values, role, oids))


def _fmt_duration(seconds: int) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    return f"{days}d {hours}h {minutes}m" if days else f"{hours}h {minutes}m" if hours else f"{minutes}m {rest % 60}s"


def rule_uptime(values, oids, params):
    """Always ok here: a short uptime alone is no evidence of a restart (a device
    just added, or a poller just started). The server compares it with the
    stored uptime and the wall clock (incidents.checks) and raises the reboot."""
    ticks = _int(values, "value", oids)
    return OK, str(ticks), f"up {_fmt_duration(ticks // 100)}", None


def rule_link(values, oids, params):
    admin = values.get("admin")
    if isinstance(admin, int) and not isinstance(admin, bool) and admin == 2:
        return OK, "adminDown", "administratively down (not a fault)", None
    oper = _int(values, "oper", oids)
    state, label = params.get("states", {}).get(str(oper), [UNKNOWN, f"status {oper}"])
    return state, label, f"port {label}", None


def _extras(values, oids) -> str:
    parts = []
    for role in oids:
        if role in ("value", "oper", "admin"):
            continue
        raw = values.get(role)
        if raw is not None and not isinstance(raw, Missing):
            parts.append(f"{role} {raw}")
    return "; ".join(parts)


def rule_enum(values, oids, params):
    raw = _int(values, "value", oids)
    state, label = params.get("states", {}).get(str(raw), [UNKNOWN, f"undefined value {raw}"])
    extras = _extras(values, oids)
    return state, label, label + (f" ({extras})" if extras else ""), None


def rule_number(values, oids, params):
    number = _number(values, "value", oids) * float(params.get("scale", 1))
    unit = params.get("unit", "")
    shown = f"{number:g}{(' ' + unit) if unit else ''}"
    state, why = OK, ""
    for limit, level, test in (
        ("low_critical", CRITICAL, lambda v, x: v < x),
        ("high_critical", CRITICAL, lambda v, x: v > x),
        ("low_warning", WARNING, lambda v, x: v < x),
        ("high_warning", WARNING, lambda v, x: v > x),
    ):
        if limit in params and test(number, float(params[limit])):
            state, why = level, f" ({'below' if limit.startswith('low') else 'above'} {params[limit]:g})"
            break
    return state, f"{number:g}", shown + why, number


RULES: dict[str, Callable] = {"uptime": rule_uptime, "link": rule_link, "enum": rule_enum, "number": rule_number}


# ------------------------------------------------------------------ polls


def interpret(target: Target, planned: list[PlannedCheck], result: PollResult, observed_at: str) -> list[Observation]:
    """One poll's result -> observations: reachability, then each check.

    When the device did not answer, only `reachability` is reported: the other
    checks keep their last known state rather than flapping to unknown.
    """

    def obs(key, state, value=None, message="", number=None) -> Observation:
        return Observation(
            asset_id=target.asset_id, key=key, state=state, observed_at=observed_at,
            source="poll", value=value, message=message, number=number,
        )

    if result.status == "timeout":
        return [obs(REACHABILITY, CRITICAL, None, result.message or "no answer")]
    if result.status != "ok":
        return [obs(REACHABILITY, UNKNOWN, None, result.message or result.status)]
    out = [obs(REACHABILITY, OK, f"{result.elapsed_ms:.0f} ms", f"answered in {result.elapsed_ms:.0f} ms")]
    for check in planned:
        by_role = {role: result.values.get(oid) for role, oid in check.oids.items()}
        try:
            state, value, message, number = RULES[check.spec.rule](by_role, check.oids, check.spec.params)
        except _Bad as exc:
            out.append(obs(check.key, UNKNOWN, None, str(exc)))
            continue
        out.append(obs(check.key, state, value, message, number if check.spec.sample else None))
    return out


# ------------------------------------------------------------------ traps


def _if_index(varbinds: Mapping[str, Any]) -> int | None:
    for oid, value in varbinds.items():
        if oid.startswith("1.3.6.1.2.1.2.2.1.1.") and isinstance(value, int):
            return value
    for oid in varbinds:
        if oid.startswith("1.3.6.1.2.1.2.2.1."):
            tail = oid.rsplit(".", 1)[-1]
            if tail.isdigit():
                return int(tail)
    return None


def interpret_trap(target: Target, profile: Profile, varbinds: Mapping[str, Any], observed_at: str) -> list[Observation] | None:
    """A trap from a known asset -> observations (traps are confirmed at once).

    Returns None for a notification this module does not know (the caller counts
    it), and [] for a known one that changes nothing (a port nobody watches).
    """
    trap_oid = varbinds.get(SNMP_TRAP_OID)
    meaning = TRAP_DATA.get(str(trap_oid)) if trap_oid is not None else None
    if meaning is None:
        return None

    def obs(key, state, message, value=None) -> Observation:
        return Observation(
            asset_id=target.asset_id, key=key, state=state, observed_at=observed_at,
            source="trap", value=value, message=message,
        )

    rule = meaning["rule"]
    if rule == "ignore":
        return []
    if rule == "fixed":
        return [obs(meaning["key"], meaning["state"], meaning["message"])]
    if rule == "link":
        if_index = _if_index(varbinds)
        if if_index is None:
            return []
        watched = {c.key for c in plan(target, profile) if c.spec.rule == "link"}
        key = f"link:{if_index}"
        if key not in watched:
            return []
        admin = varbinds.get(f"1.3.6.1.2.1.2.2.1.7.{if_index}")
        if meaning["state"] != OK and admin == 2:
            return [obs(key, OK, f"{meaning['name']} trap: administratively down (not a fault)", "adminDown")]
        label = "up" if meaning["state"] == OK else "down"
        return [obs(key, meaning["state"], f"{meaning['name']} trap: port {label}", label)]
    if rule == "ups_alarm":
        found = []
        for value in varbinds.values():
            text = str(value)
            if text.startswith(UPS_WELL_KNOWN_ALARMS + "."):
                key, state, label = UPS_ALARMS.get(text.rsplit(".", 1)[-1], UPS_ALARM_OTHER)
                if meaning["added"]:
                    found.append(obs(key, state, f"UPS alarm: {label}"))
                else:
                    found.append(obs(key, OK, f"UPS alarm cleared: {label}"))
        return found
    return None
