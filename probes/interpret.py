"""Raw SNMP values -> observations. Pure: no I/O, no pysnmp, no clock.

probes.snmp turns pysnmp's types into plain Python values before they get here:
int for INTEGER/Gauge/Counter/TimeTicks, str for OCTET STRING and OIDs, and
`Missing(reason)` for noSuchInstance/noSuchObject/endOfMibView.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from probes.profiles import (
    CLIENT_LINK,
    IF_DESCR,
    IF_NAME,
    RUNTIME_SENTINELS,
    SNMP_TRAP_OID,
    TRAP_DATA,
    UPS_ALARM_OTHER,
    UPS_ALARMS,
    UPS_WELL_KNOWN_ALARMS,
    CheckSpec,
    Profile,
)
from probes.wire import CRITICAL, OK, UNKNOWN, WARNING, Observation, Target, TargetInterface

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
    params: Mapping[str, Any] = field(default_factory=dict)  # the spec's, with the asset's overrides
    iface: TargetInterface | None = None  # the port of a per-interface check

    @property
    def label(self) -> str:
        return self.iface.label if self.iface is not None else ""


#: Roles added to a per-interface check when the interface's ifName/ifDescr are
#: stored: the same GET verifies that the ifIndex still carries that port.
NAME_ROLES = {"_ifname": IF_NAME, "_ifdescr": IF_DESCR}


def _params(spec: CheckSpec, key: str, target: Target) -> Mapping[str, Any]:
    override = target.overrides.get(key) or target.overrides.get(spec.key)
    return {**spec.params, **override} if isinstance(override, Mapping) else spec.params


def plan(target: Target, profile: Profile) -> list[PlannedCheck]:
    """The concrete checks (and OIDs) of one asset under its profile.

    A port that serves a client gets a link check whatever the profile lists.
    """
    planned = []
    linked: set[int] = set()
    for spec in profile.checks:
        if not spec.per_interface:
            planned.append(PlannedCheck(spec.key, spec, dict(spec.oids), _params(spec, spec.key, target)))
            continue
        for iface in target.interfaces:
            if iface.role in spec.interfaces or (spec.rule == "link" and iface.client and iface.if_index not in linked):
                if spec.rule == "link":
                    if iface.if_index in linked:
                        continue
                    linked.add(iface.if_index)
                planned.append(_for_interface(spec, iface, target))
    for iface in target.interfaces:
        if iface.client and iface.if_index not in linked:
            linked.add(iface.if_index)
            planned.append(_for_interface(CLIENT_LINK_SPEC, iface, target))
    return planned


def _for_interface(spec: CheckSpec, iface: TargetInterface, target: Target) -> PlannedCheck:
    fill = {"if_index": iface.if_index}
    key = spec.key.format(**fill)
    oids = {r: o.format(**fill) for r, o in spec.oids.items()}
    if iface.if_name:
        oids["_ifname"] = f"{IF_NAME}.{iface.if_index}"
    elif iface.if_descr:
        oids["_ifdescr"] = f"{IF_DESCR}.{iface.if_index}"
    return PlannedCheck(key, spec, oids, _params(spec, key, target), iface)


def oids_of(planned: list[PlannedCheck]) -> list[str]:
    """Every OID to GET, once each, in a stable order."""
    seen: dict[str, None] = {}
    for check in planned:
        for oid in check.oids.values():
            seen.setdefault(oid, None)
    return list(seen)


def walks_of(planned: list[PlannedCheck]) -> list[str]:
    """Every table column to walk (GETBULK), once each."""
    seen: dict[str, None] = {}
    for check in planned:
        for oid in check.spec.walk.values():
            seen.setdefault(oid, None)
    return list(seen)


# ------------------------------------------------------------------ rules
# A rule: (values by role, oids by role, params) -> (state, value, message, number),
# or, for a table rule, a list of (key, state, value, message, number).


class _Bad(Exception):
    """A value is missing or of the wrong type: the check is unreadable."""


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


def fmt(number: float) -> str:
    """A number for people: no scientific notation, at most two decimals."""
    if number == int(number):
        return str(int(number))
    return f"{number:.2f}".rstrip("0").rstrip(".")


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
        if role in ("value", "oper", "admin") or role.startswith("_"):
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


def _limits(number: float, params: Mapping[str, Any]) -> tuple[str, str]:
    for limit, level, below in (
        ("low_critical", CRITICAL, True),
        ("high_critical", CRITICAL, False),
        ("low_warning", WARNING, True),
        ("high_warning", WARNING, False),
    ):
        if limit in params and (number < float(params[limit]) if below else number > float(params[limit])):
            return level, f" ({'below' if below else 'above'} {fmt(float(params[limit]))})"
    return OK, ""


def rule_number(values, oids, params):
    number = _number(values, "value", oids) * float(params.get("scale", 1))
    unit = params.get("unit", "")
    state, why = _limits(number, params)
    return state, fmt(number), f"{fmt(number)}{(' ' + unit) if unit else ''}{why}", number


def _source_mode(values, params) -> str | None:
    """"battery" | "bypass" | "mains" from the output-source role, None when not read."""
    raw = values.get("source")
    if not isinstance(raw, int) or isinstance(raw, bool):
        return None
    if raw in params.get("on_battery", ()):
        return "battery"
    if raw in params.get("bypass", ()):
        return "bypass"
    return "mains"


_TO_MINUTES = {"min": 1.0, "s": 1 / 60, "ticks": 1 / 6000}


def rule_runtime(values, oids, params):
    """Battery runtime left. Sentinels (65535, 2^32-1 ...) are "not reported";
    the thresholds apply only while the UPS runs on battery (on mains many
    agents send 0 or a meaningless figure)."""
    raw = _int(values, "value", oids)
    if raw in params.get("sentinels", RUNTIME_SENTINELS):
        return OK, None, f"runtime not reported by the UPS (sends {raw})", None
    minutes = raw * _TO_MINUTES.get(params.get("unit_in", "min"), 1.0)
    shown = f"{fmt(round(minutes, 1))} min"
    mode = _source_mode(values, params)
    if mode != "battery":
        if minutes == 0:
            return OK, None, "runtime not reported on mains (0)", None
        return OK, fmt(round(minutes, 1)), shown + (" (on mains: limits apply on battery)" if mode else ""), minutes
    state, why = _limits(minutes, params)
    return state, fmt(round(minutes, 1)), f"{shown} left on battery{why}", minutes


def rule_voltage(values, oids, params):
    """Input voltage: tenths of a volt detected (or set by `scale`); 0 V is mains
    lost — critical while the output runs on battery or bypass, warning otherwise."""
    raw = _number(values, "value", oids)
    if "scale" in params:
        volts = raw * float(params["scale"])
    else:
        volts = raw / 10 if raw > float(params.get("tenths_above", 1000)) else raw
    mode = _source_mode(values, params)
    if volts == 0:
        if mode in ("battery", "bypass"):
            return CRITICAL, "0", f"0 V input: mains lost (output on {mode})", 0.0
        return WARNING, "0", "0 V input: mains lost?" + (" (output still on mains)" if mode else ""), 0.0
    state, why = _limits(volts, params)
    return state, fmt(volts), f"{fmt(volts)} V{why}", volts


def _table(values, role: str, walk: Mapping[str, str], suffix: str = "") -> dict[str, Any]:
    """A walked column -> {row index: value}; `suffix` ends the indexes to keep (and is cut)."""
    rows = values.get(role)
    if isinstance(rows, Missing) or not rows:
        raise _Bad(f"{role}: nothing under {walk[role]}")
    out = {}
    for index, value in rows.items():
        if suffix:
            if not index.endswith(suffix):
                continue
            index = index[: -len(suffix)]
        out[index] = value
    if not out:
        raise _Bad(f"{role}: nothing under {walk[role]}")
    return out


def _index_key(index: str):
    return tuple(int(p) if p.isdigit() else p for p in index.split("."))


def rule_outlets(values, oids, params):
    """Outlet states of a PDU: how many are on and which are off (by name).
    An outlet off is shown, not alarmed (it may be unused), so is one switching
    (a "pending" state); an unknown state warns."""
    states = _table(values, "state", oids, params.get("index_suffix", ""))
    names = values.get("name") if isinstance(values.get("name"), Mapping) else {}
    on, off, changing, odd = [], [], [], []
    for index in sorted(states, key=_index_key):
        label = str(names.get(index) or f"outlet {index}")
        meaning = params.get("states", {}).get(str(states[index]))
        kind = meaning[0] if meaning else None
        bucket = on if kind == "on" else off if kind == "off" else changing if kind == "pending" else odd
        bucket.append(f"{index} {label}")
    message = f"{len(on)} of {len(states)} outlets on"
    if off:
        message += "; off: " + ", ".join(off)
    if changing:
        message += "; switching: " + ", ".join(changing)
    if odd:
        message += "; unknown state: " + ", ".join(odd)
    return [("power:outlets", WARNING if odd else OK, f"{len(on)}/{len(states)}", message, None)]


#: ENTITY-SENSOR-MIB sensor types read by the generic reader -> (key, unit).
SENSOR_TYPES = {3: ("power:inlet_voltage", "V", "voltsAC"), 4: ("power:dc_voltage", "V", "voltsDC"),
                5: ("power:inlet_current", "A", "amperes"), 6: ("power:inlet_power", "W", "watts"),
                14: ("optical", "dBm", "dBm")}
_SCALE_EXP = {1: -24, 2: -21, 3: -18, 4: -15, 5: -12, 6: -9, 7: -6, 8: -3, 9: 0, 10: 3, 11: 6, 12: 9, 13: 12,
              14: 15, 15: 18, 16: 21, 17: 24}


def rule_sensors(values, oids, params):
    """ENTITY-SENSOR-MIB: every voltage/current/power/dBm sensor as its own
    check, by entPhysicalName; the first of a type is `power:inlet_*`."""
    types = _table(values, "type", oids)
    readings = _table(values, "value", oids)
    scales = values.get("scale") if isinstance(values.get("scale"), Mapping) else {}
    precisions = values.get("precision") if isinstance(values.get("precision"), Mapping) else {}
    statuses = values.get("status") if isinstance(values.get("status"), Mapping) else {}
    names = values.get("name") if isinstance(values.get("name"), Mapping) else {}
    out, used = [], set()
    for index in sorted(types, key=_index_key):
        known = SENSOR_TYPES.get(types[index]) if isinstance(types[index], int) else None
        if known is None or not isinstance(readings.get(index), int):
            continue
        base, unit, type_name = known
        key = f"{base}:{index}" if base == "optical" or base in used else base
        used.add(base)
        label = str(names.get(index) or f"sensor {index}")
        if statuses.get(index) not in (None, 1):
            out.append((key, UNKNOWN, None, f"{label}: sensor unavailable", None))
            continue
        exp = _SCALE_EXP.get(scales.get(index, 9), 0)
        number = readings[index] * 10.0 ** exp / 10.0 ** int(precisions.get(index) or 0)
        state, why = _limits(number, params.get("limits", {}).get(type_name, {}))
        out.append((key, state, fmt(number), f"{label}: {fmt(number)} {unit}{why}", number))
    if not out:
        raise _Bad("no voltage, current, power or dBm sensor in entPhySensorTable")
    return out


RULES: dict[str, Callable] = {
    "uptime": rule_uptime, "link": rule_link, "enum": rule_enum, "number": rule_number,
    "runtime": rule_runtime, "voltage": rule_voltage, "outlets": rule_outlets, "sensors": rule_sensors,
}


# ------------------------------------------------------------------ polls


def _renamed(check: PlannedCheck, by_role: Mapping[str, Any]) -> str | None:
    """The mismatch message when the interface's ifIndex now carries another port."""
    iface = check.iface
    if iface is None:
        return None
    for role, expected in (("_ifname", iface.if_name), ("_ifdescr", iface.if_descr)):
        if role not in check.oids:
            continue
        seen = by_role.get(role)
        if isinstance(seen, Missing):
            return f"ifIndex {iface.if_index} is gone ({seen.reason}), expected {expected}"
        if seen is not None and str(seen) != expected:
            return f"ifIndex {iface.if_index} is now {seen}, expected {expected}"
    return None


def _collect(result: PollResult, check: PlannedCheck) -> dict[str, Any]:
    by_role = {role: result.values.get(oid) for role, oid in check.oids.items()}
    for role, column in check.spec.walk.items():
        prefix = column + "."
        rows = {oid[len(prefix):]: v for oid, v in result.values.items() if oid.startswith(prefix)}
        by_role[role] = rows or Missing("noSuchObject")
    return by_role


def interpret(target: Target, planned: list[PlannedCheck], result: PollResult, observed_at: str) -> list[Observation]:
    """One poll's result -> observations: reachability, then each check.

    When the device did not answer, only `reachability` is reported: the other
    checks keep their last known state rather than flapping to unknown. A check
    whose OIDs the agent does not have is `unknown` with value `unreadable`
    (see `readability`); an optional one (SFP power) is left out.
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
        by_role = _collect(result, check)
        prefix = f"{check.label}: " if check.label else ""
        renamed = _renamed(check, by_role)
        if renamed:
            out.append(obs(check.key, WARNING, "renumbered", renamed))
            continue
        try:
            found = RULES[check.spec.rule](by_role, {**check.oids, **check.spec.walk}, check.params)
        except _Bad as exc:
            if not check.spec.optional:
                out.append(obs(check.key, UNKNOWN, UNREADABLE, f"{prefix}not readable: {exc}"))
            continue
        if isinstance(found, tuple):
            found = [(check.key, *found)]
        for key, state, value, message, number in found:
            out.append(obs(key, state, value, prefix + message, number if check.spec.sample else None))
    return out


CLIENT_LINK_SPEC = CheckSpec(key=CLIENT_LINK["key"], rule="link", oids=CLIENT_LINK["oids"],
                             interfaces=tuple(CLIENT_LINK["interfaces"]), params=CLIENT_LINK["params"])

UNREADABLE = "unreadable"
PROFILE_CHECK = "profile"
#: Polls in a row with unreadable checks (agent reachable) before `profile` warns.
UNREADABLE_POLLS = 3


def readability(target: Target, profile: Profile, chosen: str, observations: list[Observation], streak: int,
                needed: int = UNREADABLE_POLLS) -> tuple[Observation | None, int]:
    """The `profile` check of one poll, and the new count of polls in a row
    with unreadable checks: `warning` "not readable: wrong profile?" once it
    reaches `needed` while the agent answers. None when the agent did not answer."""
    if not observations or observations[0].key != REACHABILITY or observations[0].state != OK:
        return None, streak
    bad = [o.key for o in observations if o.value == UNREADABLE and o.state == UNKNOWN]
    read = sum(1 for o in observations[1:] if o.value != UNREADABLE)
    streak = streak + 1 if bad else 0
    what = f"profile {profile.name}{f' ({chosen})' if chosen else ''}"
    if not bad:
        state, message = OK, f"{what}: {read} checks read"
    elif streak >= needed:
        state = WARNING
        message = (f"not readable: wrong profile? {', '.join(bad)} unanswered for {streak} polls ({what}; "
                   f"{read} checks read)")
    else:
        state, message = UNKNOWN, f"{what}: {', '.join(bad)} unanswered ({streak} of {needed} polls)"
    return Observation(asset_id=target.asset_id, key=PROFILE_CHECK, state=state, observed_at=observations[0].observed_at,
                       source="poll", value=profile.name, message=message), streak


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
        watched = {c.key: c for c in plan(target, profile) if c.spec.rule == "link"}
        key = f"link:{if_index}"
        if key not in watched:
            return []
        port = f"{watched[key].label}: " if watched[key].label else ""
        admin = varbinds.get(f"1.3.6.1.2.1.2.2.1.7.{if_index}")
        if meaning["state"] != OK and admin == 2:
            return [obs(key, OK, f"{port}{meaning['name']} trap: administratively down (not a fault)", "adminDown")]
        label = "up" if meaning["state"] == OK else "down"
        return [obs(key, meaning["state"], f"{port}{meaning['name']} trap: port {label}", label)]
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
