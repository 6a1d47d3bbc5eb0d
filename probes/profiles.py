"""What to watch per asset kind — as data. A new vendor profile is an entry in
PROFILE_DATA (or in a JSON file given to `rackcard probe --profiles FILE`), not
new code: each check names an interpretation rule from probes.interpret, the
numeric OIDs it reads and the rule's parameters.

Check spec fields:
    key         check key; "{if_index}" is filled in for per-interface checks
    rule        uptime | link | enum | number   (see probes.interpret.RULES)
    oids        role -> numeric OID; "{if_index}" filled in per interface.
                The rule reads the role "value" (link reads "oper" and "admin").
    interfaces  per-interface check: the interface roles it applies to
    params      rule parameters (state maps, thresholds, scale, unit)
    sample      keep the numeric value as a sample for graphs

Every profile implies `reachability`: whether the GET was answered at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

# IF-MIB and SNMPv2-MIB
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_ADMIN_STATUS = "1.3.6.1.2.1.2.2.1.7.{if_index}"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8.{if_index}"
# RFC 1628 UPS-MIB
UPS_BATTERY_STATUS = "1.3.6.1.2.1.33.1.2.1.0"
UPS_MINUTES_REMAINING = "1.3.6.1.2.1.33.1.2.3.0"
UPS_INPUT_VOLTAGE = "1.3.6.1.2.1.33.1.3.3.1.3.1"
UPS_OUTPUT_SOURCE = "1.3.6.1.2.1.33.1.4.1.0"
UPS_OUTPUT_LOAD = "1.3.6.1.2.1.33.1.4.4.1.5.1"

# ifOperStatus values -> state, label. (Admin-down is handled by the rule: not a fault.)
IF_OPER_STATES = {
    "1": ["ok", "up"],
    "2": ["critical", "down"],
    "3": ["warning", "testing"],
    "4": ["unknown", "unknown"],
    "5": ["ok", "dormant"],
    "6": ["critical", "notPresent"],
    "7": ["critical", "lowerLayerDown"],
}

_UPTIME = {"key": "uptime", "rule": "uptime", "oids": {"value": SYS_UPTIME}, "params": {"recent_reboot_s": 600}}


def _link(roles: list[str]) -> dict:
    return {
        "key": "link:{if_index}",
        "rule": "link",
        "oids": {"oper": IF_OPER_STATUS, "admin": IF_ADMIN_STATUS},
        "interfaces": roles,
        "params": {"states": IF_OPER_STATES},
    }


PROFILE_DATA: dict[str, dict] = {
    "media_converter": {
        "description": "Media converter (or one slot of a chassis): fiber/copper ports and uptime",
        "checks": [_UPTIME, _link(["fiber", "copper", "uplink", "client"])],
    },
    "ups": {
        "description": "UPS speaking RFC 1628 UPS-MIB",
        "checks": [
            _UPTIME,
            {
                "key": "power:source",
                "rule": "enum",
                "oids": {"value": UPS_OUTPUT_SOURCE},
                "params": {
                    "states": {
                        "1": ["unknown", "other"],
                        "2": ["critical", "none (output off)"],
                        "3": ["ok", "normal (mains)"],
                        "4": ["warning", "bypass"],
                        "5": ["critical", "on battery"],
                        "6": ["warning", "booster"],
                        "7": ["warning", "reducer"],
                    }
                },
            },
            {
                "key": "power:battery",
                "rule": "enum",
                "oids": {"value": UPS_BATTERY_STATUS, "minutes remaining": UPS_MINUTES_REMAINING},
                "params": {
                    "states": {
                        "1": ["unknown", "unknown"],
                        "2": ["ok", "normal"],
                        "3": ["critical", "low"],
                        "4": ["critical", "depleted"],
                    }
                },
            },
            {
                "key": "power:minutes_remaining",
                "rule": "number",
                "oids": {"value": UPS_MINUTES_REMAINING},
                "params": {"unit": "min", "low_warning": 15, "low_critical": 5},
                "sample": True,
            },
            {
                "key": "power:input_voltage",
                "rule": "number",
                "oids": {"value": UPS_INPUT_VOLTAGE},
                "params": {"unit": "V"},
                "sample": True,
            },
        ],
    },
    "generic": {
        "description": "PDU, switch, router, server: reachability, uptime and uplink ports",
        "checks": [_UPTIME, _link(["uplink"])],
    },
}

#: The profile used when an asset names none.
DEFAULT_PROFILE_BY_KIND = {
    "media_converter": "media_converter",
    "ups": "ups",
    "pdu": "generic",
    "switch": "generic",
    "router": "generic",
    "server": "generic",
    "other": "generic",
}

# ------------------------------------------------------------------ traps
# Notification OID -> what it means. rule: link | fixed | ups_alarm | ignore.
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
UPS_WELL_KNOWN_ALARMS = "1.3.6.1.2.1.33.1.6.3"

TRAP_DATA: dict[str, dict] = {
    "1.3.6.1.6.3.1.1.5.1": {"name": "coldStart", "rule": "fixed", "key": "uptime", "state": "warning",
                            "message": "coldStart trap: the device restarted"},
    "1.3.6.1.6.3.1.1.5.2": {"name": "warmStart", "rule": "fixed", "key": "uptime", "state": "warning",
                            "message": "warmStart trap: the device restarted"},
    "1.3.6.1.6.3.1.1.5.3": {"name": "linkDown", "rule": "link", "state": "critical"},
    "1.3.6.1.6.3.1.1.5.4": {"name": "linkUp", "rule": "link", "state": "ok"},
    "1.3.6.1.2.1.33.2.1": {"name": "upsTrapOnBattery", "rule": "fixed", "key": "power:source", "state": "critical",
                           "message": "upsTrapOnBattery: the UPS is on battery"},
    "1.3.6.1.2.1.33.2.2": {"name": "upsTrapTestCompleted", "rule": "ignore"},
    "1.3.6.1.2.1.33.2.3": {"name": "upsTrapAlarmEntryAdded", "rule": "ups_alarm", "added": True},
    "1.3.6.1.2.1.33.2.4": {"name": "upsTrapAlarmEntryRemoved", "rule": "ups_alarm", "added": False},
}

#: upsWellKnownAlarms sub-id -> (check key, state while the alarm is present, label)
UPS_ALARMS: dict[str, list] = {
    "1": ["power:battery", "warning", "battery bad"],
    "2": ["power:source", "critical", "on battery"],
    "3": ["power:battery", "critical", "low battery"],
    "4": ["power:battery", "critical", "battery depleted"],
    "6": ["power:input", "critical", "input bad"],
    "7": ["power:output", "critical", "output bad"],
    "8": ["power:output", "warning", "output overload"],
    "9": ["power:source", "warning", "on bypass"],
    "13": ["power:battery", "warning", "charger failed"],
    "14": ["power:output", "critical", "UPS output off"],
    "22": ["power:output", "critical", "shutdown pending"],
    "23": ["power:output", "critical", "shutdown imminent"],
}
UPS_ALARM_OTHER = ["power:alarm", "warning", "UPS alarm"]


# ------------------------------------------------------------------ loading


@dataclass(frozen=True)
class CheckSpec:
    key: str
    rule: str
    oids: Mapping[str, str]
    interfaces: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    sample: bool = False

    @property
    def per_interface(self) -> bool:
        return bool(self.interfaces)


@dataclass(frozen=True)
class Profile:
    name: str
    checks: tuple[CheckSpec, ...]
    description: str = ""


class ProfileError(ValueError):
    pass


def load_profiles(data: Mapping[str, dict]) -> dict[str, Profile]:
    """Validate profile data and build Profile objects; errors name the entry."""
    from probes.interpret import RULES

    profiles = {}
    for name, entry in data.items():
        checks = []
        for i, c in enumerate(entry.get("checks") or ()):
            where = f"profile {name!r}, check {i} ({c.get('key', '?')})"
            if c.get("rule") not in RULES:
                raise ProfileError(f"{where}: rule must be one of {', '.join(sorted(RULES))}")
            oids = dict(c.get("oids") or {})
            if not oids or not c.get("key"):
                raise ProfileError(f"{where}: needs a key and at least one OID")
            for oid in oids.values():
                if not all(part.isdigit() or part == "{if_index}" for part in oid.split(".")):
                    raise ProfileError(f"{where}: {oid!r} is not a numeric OID")
            checks.append(
                CheckSpec(
                    key=c["key"],
                    rule=c["rule"],
                    oids=oids,
                    interfaces=tuple(c.get("interfaces") or ()),
                    params=dict(c.get("params") or {}),
                    sample=bool(c.get("sample", False)),
                )
            )
        profiles[name] = Profile(name=name, checks=tuple(checks), description=entry.get("description", ""))
    return profiles


def builtin_profiles(extra_file: str | Path | None = None) -> dict[str, Profile]:
    """The built-in profiles, plus (overriding by name) those of a JSON file."""
    data = dict(PROFILE_DATA)
    if extra_file:
        data.update(json.loads(Path(extra_file).read_text()))
    return load_profiles(data)


def profile_for(kind: str, name: str | None, profiles: Mapping[str, Profile]) -> Profile:
    chosen = name or DEFAULT_PROFILE_BY_KIND.get(kind, "generic")
    return profiles.get(chosen) or profiles["generic"]
