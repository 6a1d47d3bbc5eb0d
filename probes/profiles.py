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
# IF-MIB columns read by discovery and by the ifIndex -> name verification
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_TYPE = "1.3.6.1.2.1.2.2.1.3"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HIGH_SPEED = "1.3.6.1.2.1.31.1.1.1.15"
IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"
ENT_PHYSICAL_NAME = "1.3.6.1.2.1.47.1.1.1.1.7"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
# ENTITY-SENSOR-MIB entPhySensorTable columns
ENT_SENSOR = {
    "type": "1.3.6.1.2.1.99.1.1.1.1", "scale": "1.3.6.1.2.1.99.1.1.1.2", "precision": "1.3.6.1.2.1.99.1.1.1.3",
    "value": "1.3.6.1.2.1.99.1.1.1.4", "status": "1.3.6.1.2.1.99.1.1.1.5",
}

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

#: "No estimate" values agents send for a remaining runtime (16/32-bit all ones, -1).
RUNTIME_SENTINELS = [65535, 4294967295, 2147483647, -1]
#: Mains input limits (V) for a 230 V site; a profile or an asset override sets others.
VOLTAGE_LIMITS = {"low_warning": 200, "high_warning": 253}


def _link(roles: list[str]) -> dict:
    return {
        "key": "link:{if_index}",
        "rule": "link",
        "oids": {"oper": IF_OPER_STATUS, "admin": IF_ADMIN_STATUS},
        "interfaces": roles,
        "params": {"states": IF_OPER_STATES},
    }


#: The link check an interface that serves a client gets on any profile.
CLIENT_LINK = _link(["client"])




def _ups_set(source_oid: str, source_states: dict, on_battery: list[int], bypass: list[int],
             battery_oid: str, battery_states: dict, runtime_oid: str, runtime_unit: str,
             voltage_oid: str, voltage_scale: float | None = None) -> list[dict]:
    """The four power checks every UPS profile has, whatever MIB carries them."""
    context = {"source": source_oid}
    source_params = {"on_battery": on_battery, "bypass": bypass}
    voltage_params = {"unit": "V", **VOLTAGE_LIMITS, **source_params}
    if voltage_scale is not None:
        voltage_params["scale"] = voltage_scale
    return [
        _UPTIME,
        {"key": "power:source", "rule": "enum", "oids": {"value": source_oid}, "params": {"states": source_states}},
        {"key": "power:battery", "rule": "enum", "oids": {"value": battery_oid}, "params": {"states": battery_states}},
        {"key": "power:minutes_remaining", "rule": "runtime", "oids": {"value": runtime_oid, **context},
         "params": {"unit_in": runtime_unit, "low_warning": 15, "low_critical": 5, **source_params}, "sample": True},
        {"key": "power:input_voltage", "rule": "voltage", "oids": {"value": voltage_oid, **context},
         "params": voltage_params, "sample": True},
    ]


RFC1628_SOURCE = {
    "1": ["unknown", "other"],
    "2": ["critical", "none (output off)"],
    "3": ["ok", "normal (mains)"],
    "4": ["warning", "bypass"],
    "5": ["critical", "on battery"],
    "6": ["warning", "booster"],
    "7": ["warning", "reducer"],
}
# PowerNet-MIB upsBasicOutputStatus
APC_OUTPUT_STATUS = "1.3.6.1.4.1.318.1.1.1.4.1.1.0"
APC_SOURCE = {
    "1": ["unknown", "unknown"], "2": ["ok", "online (mains)"], "3": ["critical", "on battery"],
    "4": ["ok", "on smart boost"], "5": ["warning", "timed sleeping"], "6": ["warning", "software bypass"],
    "7": ["critical", "output off"], "8": ["warning", "rebooting"], "9": ["warning", "switched bypass"],
    "10": ["critical", "hardware failure bypass"], "11": ["critical", "sleeping until power returns"],
    "12": ["ok", "on smart trim"], "13": ["ok", "eco mode"], "14": ["ok", "hot standby"],
    "15": ["warning", "on battery test"], "16": ["critical", "emergency static bypass"],
    "17": ["warning", "static bypass standby"], "18": ["ok", "power saving mode"], "19": ["ok", "spot mode"],
    "20": ["ok", "eConversion"],
}
# PPC-MIB (XPPC / NetAgent / Megatec cards) upsBaseOutputStatus
XPPC_OUTPUT_STATUS = "1.3.6.1.4.1.935.1.1.1.4.1.1.0"
XPPC_SOURCE = {
    "1": ["unknown", "unknown"], "2": ["ok", "online (mains)"], "3": ["critical", "on battery"],
    "4": ["ok", "on boost"], "5": ["warning", "sleeping"], "6": ["warning", "on bypass"],
    "7": ["warning", "rebooting"], "8": ["warning", "standby"], "9": ["ok", "on buck"],
}
# XUPS-MIB (Eaton Powerware) xupsOutputSource
EATON_OUTPUT_SOURCE = "1.3.6.1.4.1.534.1.4.5.0"
EATON_SOURCE = {
    "1": ["unknown", "other"], "2": ["critical", "none (output off)"], "3": ["ok", "normal (mains)"],
    "4": ["warning", "bypass"], "5": ["critical", "on battery"], "6": ["warning", "booster"],
    "7": ["warning", "reducer"], "8": ["ok", "parallel capacity"], "9": ["ok", "parallel redundant"],
    "10": ["ok", "high efficiency mode"], "11": ["warning", "maintenance bypass"], "12": ["ok", "ESS mode"],
}
BASIC_BATTERY = {"1": ["unknown", "unknown"], "2": ["ok", "normal"], "3": ["critical", "low"]}

#: Outlet state OIDs, named per PDU profile so outlet control (issue 13) adds SET
#: commands to the same entries: `state` is read, `name` labels it, `control` is
#: the column a power-cycle writes with the `commands` values. A state's meaning is
#: "on" or "off" once settled; "pending" (a command under way) confirms neither.
APC_RPDU2_OUTLETS = {
    "state": "1.3.6.1.4.1.318.1.1.26.9.2.3.1.5", "name": "1.3.6.1.4.1.318.1.1.26.9.2.3.1.3",
    "control": "1.3.6.1.4.1.318.1.1.26.9.2.4.1.5", "commands": {"on": 1, "off": 2, "reboot": 3},
    "states": {"1": ["off", "off"], "2": ["on", "on"]},
}
APC_RPDU_OUTLETS = {
    "state": "1.3.6.1.4.1.318.1.1.12.3.5.1.1.4", "name": "1.3.6.1.4.1.318.1.1.12.3.5.1.1.2",
    "control": "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4", "commands": {"on": 1, "off": 2, "reboot": 3},
    "states": {"1": ["on", "on"], "2": ["off", "off"]},
}
#: PowerNet-MIB sPDUOutletControlTable (MasterSwitch AP92xx/AP96xx, before rPDU):
#: sPDUOutletCtl is both the command (outletOn 1, outletOff 2, outletReboot 3) and,
#: read, the state (1 on, 2 off, 4 outletUnknown).
APC_MASTERSWITCH_OUTLETS = {
    "state": "1.3.6.1.4.1.318.1.1.4.4.2.1.3", "name": "1.3.6.1.4.1.318.1.1.4.4.2.1.4",
    "control": "1.3.6.1.4.1.318.1.1.4.4.2.1.3", "commands": {"on": 1, "off": 2, "reboot": 3},
    "states": {"1": ["on", "on"], "2": ["off", "off"], "4": ["unknown", "unknown"]},
}
RARITAN_OUTLETS = {
    # measurementsOutletSensorState.<pdu 1>.<outlet>.<sensor type 14 = onOff>
    "state": "1.3.6.1.4.1.13742.6.5.4.3.1.3.1", "index_suffix": ".14",
    "name": "1.3.6.1.4.1.13742.6.3.5.3.1.3.1",
    "control": "1.3.6.1.4.1.13742.6.4.1.2.1.2.1", "commands": {"off": 0, "on": 1, "reboot": 2},
    "states": {"7": ["on", "on"], "8": ["off", "off"]},
}

#: EATON-EPDU-MIB: outletControlStatus / outletName; each command has its own column,
#: written with a delay in seconds (0 = at once).
_EATON_CONTROL = "1.3.6.1.4.1.534.6.6.7.6.6.1"
EATON_EPDU_OUTLETS = {
    "state": _EATON_CONTROL + ".2.0", "name": "1.3.6.1.4.1.534.6.6.7.6.1.1.3.0",
    "control": _EATON_CONTROL + ".4.0", "commands": {"off": 0, "on": 0, "reboot": 0},
    "command_oids": {"off": _EATON_CONTROL + ".3.0", "on": _EATON_CONTROL + ".4.0", "reboot": _EATON_CONTROL + ".5.0"},
    "states": {"0": ["off", "off"], "1": ["on", "on"], "2": ["pending", "pending off"], "3": ["pending", "pending on"]},
}


def _outlets(spec: dict) -> dict:
    walk = {"state": spec["state"], "name": spec["name"]}
    params = {"states": spec["states"], "index_suffix": spec.get("index_suffix", ""),
              "control": spec["control"], "commands": spec["commands"],
              "command_oids": spec.get("command_oids", {})}
    return {"key": "power:outlets", "rule": "outlets", "walk": walk, "params": params}


def _reading(key: str, oid: str, unit: str, scale: float = 1, **limits) -> dict:
    return {"key": key, "rule": "number", "oids": {"value": oid}, "params": {"unit": unit, "scale": scale, **limits},
            "sample": True}


#: Optical power of fiber ports where the device publishes it, as dBm samples
#: with low-light thresholds: a warning before the link drops. Optional: a
#: chassis whose modules have no DOM simply has no such check.
def _dom(key: str, oid: str, scale: float, low_warning: float, low_critical: float) -> dict:
    return {"key": key + ":{if_index}", "rule": "number", "oids": {"value": oid}, "interfaces": ["fiber"],
            "optional": True, "sample": True,
            "params": {"unit": "dBm", "scale": scale, "low_warning": low_warning, "low_critical": low_critical}}


PROFILE_DATA: dict[str, dict] = {
    "media_converter": {
        "description": "Media converter (or one slot of a chassis): fiber/copper ports and uptime",
        "mib": "IF-MIB, SNMPv2-MIB",
        "checks": [_UPTIME, _link(["fiber", "copper", "uplink", "client"])],
    },
    "planet_mc_chassis": {
        "description": "Planet MC-1610MR class media-converter chassis: slot_N_tp/slot_N_fx ports, "
                       "SFP receive/transmit power where the slot publishes it",
        "mib": "IF-MIB, SNMPv2-MIB; DOM rx/tx power (0.01 dBm) from the chassis' per-ifIndex DOM table",
        "sys_object_ids": ["1.3.6.1.4.1.10456.2.625"],
        "checks": [
            _UPTIME, _link(["fiber", "copper", "uplink", "client"]),
            _dom("rx_power", "1.3.6.1.4.1.10456.2.625.1.3.1.5.{if_index}", 0.01, -24, -28),
            _dom("tx_power", "1.3.6.1.4.1.10456.2.625.1.3.1.4.{if_index}", 0.01, -10, -14),
        ],
    },
    "ups": {
        "description": "UPS speaking RFC 1628 UPS-MIB",
        "mib": "UPS-MIB (RFC 1628)",
        "sys_object_ids": ["1.3.6.1.2.1.33", "1.3.6.1.4.1.705.1"],
        "checks": _ups_set(UPS_OUTPUT_SOURCE, RFC1628_SOURCE, [5], [4], UPS_BATTERY_STATUS,
                           {"1": ["unknown", "unknown"], "2": ["ok", "normal"], "3": ["critical", "low"],
                            "4": ["critical", "depleted"]},
                           UPS_MINUTES_REMAINING, "min", UPS_INPUT_VOLTAGE),
    },
    "apc_ups": {
        "description": "APC Smart-UPS / Symmetra with a Network Management Card (no UPS-MIB)",
        "mib": "PowerNet-MIB: upsBasicOutputStatus, upsBasicBatteryStatus, upsAdvBatteryRunTimeRemaining "
               "(TimeTicks), upsAdvInputLineVoltage",
        "sys_object_ids": ["1.3.6.1.4.1.318.1.3.2", "1.3.6.1.4.1.318.1.3.27", "1.3.6.1.4.1.318.1.3.5"],
        "checks": _ups_set(APC_OUTPUT_STATUS, APC_SOURCE, [3, 11], [6, 9, 10, 16], "1.3.6.1.4.1.318.1.1.1.2.1.1.0",
                           {**BASIC_BATTERY, "4": ["critical", "in fault condition"]},
                           "1.3.6.1.4.1.318.1.1.1.2.2.3.0", "ticks", "1.3.6.1.4.1.318.1.1.1.3.2.1.0")
        + [_reading("power:load", "1.3.6.1.4.1.318.1.1.1.4.2.3.0", "%", high_warning=80, high_critical=95)],
    },
    "xppc_ups": {
        "description": "UPS with an XPPC / NetAgent (Megatec) card",
        "mib": "PPC-MIB: upsBaseOutputStatus, upsBaseBatteryStatus, upsSmartBatteryRunTimeRemaining (s), "
               "upsSmartInputLineVoltage (0.1 V)",
        "sys_object_ids": ["1.3.6.1.4.1.935"],
        "checks": _ups_set(XPPC_OUTPUT_STATUS, XPPC_SOURCE, [3], [6], "1.3.6.1.4.1.935.1.1.1.2.1.1.0", BASIC_BATTERY,
                           "1.3.6.1.4.1.935.1.1.1.2.2.4.0", "s", "1.3.6.1.4.1.935.1.1.1.3.2.1.0", voltage_scale=0.1),
    },
    "eaton_ups": {
        "description": "Eaton / Powerware UPS (ConnectUPS / Network-MS card)",
        "mib": "XUPS-MIB: xupsOutputSource, xupsBatteryAbmStatus, xupsBatTimeRemaining (s), xupsInputVoltage",
        "sys_object_ids": ["1.3.6.1.4.1.534"],
        "checks": _ups_set(EATON_OUTPUT_SOURCE, EATON_SOURCE, [5], [4, 11], "1.3.6.1.4.1.534.1.2.5.0",
                           {"1": ["ok", "charging"], "2": ["warning", "discharging"], "3": ["ok", "floating"],
                            "4": ["ok", "resting"], "5": ["unknown", "unknown"], "6": ["critical", "disconnected"],
                            "7": ["warning", "under test"], "8": ["warning", "check battery"]},
                           "1.3.6.1.4.1.534.1.2.1.0", "s", "1.3.6.1.4.1.534.1.3.4.1.2.1"),
    },
    "apc_rpdu2": {
        "description": "APC switched/metered rack PDU, rPDU2 generation (AP86xx, AP88xx)",
        "mib": "PowerNet-MIB rPDU2: rPDU2PhaseStatusVoltage, rPDU2PhaseStatusCurrent (0.1 A), "
               "rPDU2DeviceStatusPower (0.01 kW), rPDU2OutletSwitchedStatusState",
        "sys_object_ids": ["1.3.6.1.4.1.318.1.3.4.6", "1.3.6.1.4.1.318.1.3.4.7", "1.3.6.1.4.1.318.1.3.4.9"],
        "checks": [
            _UPTIME,
            _reading("power:inlet_voltage", "1.3.6.1.4.1.318.1.1.26.6.3.1.6.1", "V", **VOLTAGE_LIMITS),
            _reading("power:inlet_current", "1.3.6.1.4.1.318.1.1.26.6.3.1.5.1", "A", 0.1),
            _reading("power:inlet_power", "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1", "W", 10),
            _outlets(APC_RPDU2_OUTLETS),
        ],
    },
    "apc_rpdu": {
        "description": "APC switched rack PDU, first generation (AP79xx)",
        "mib": "PowerNet-MIB rPDU: rPDUIdentDeviceLinetoLineVoltage, rPDULoadStatusLoad (0.1 A), "
               "rPDUIdentDevicePowerWatts, rPDUOutletStatusOutletState",
        "sys_object_ids": ["1.3.6.1.4.1.318.1.3.4.5", "1.3.6.1.4.1.318.1.3.4"],
        "checks": [
            _UPTIME,
            _reading("power:inlet_voltage", "1.3.6.1.4.1.318.1.1.12.1.15.0", "V", **VOLTAGE_LIMITS),
            _reading("power:inlet_current", "1.3.6.1.4.1.318.1.1.12.2.3.1.1.2.1", "A", 0.1),
            _reading("power:inlet_power", "1.3.6.1.4.1.318.1.1.12.1.16.0", "W"),
            _outlets(APC_RPDU_OUTLETS),
        ],
    },
    "apc_masterswitch": {
        "description": "APC MasterSwitch, the switched PDU before rPDU (AP92xx, AP96xx)",
        "mib": "PowerNet-MIB sPDUOutletControlTable: sPDUOutletCtl (state and command), sPDUOutletCtlName",
        "sys_object_ids": ["1.3.6.1.4.1.318.1.3.4.1", "1.3.6.1.4.1.318.1.3.4.2"],
        "checks": [_UPTIME, _outlets(APC_MASTERSWITCH_OUTLETS)],
    },
    "raritan_pdu2": {
        "description": "Raritan PX2/PX3 PDU",
        "mib": "PDU2-MIB: measurementsInletSensorValue (rmsVoltage, rmsCurrent 0.001 A, activePower), "
               "measurementsOutletSensorState (onOff)",
        "sys_object_ids": ["1.3.6.1.4.1.13742.6"],
        "checks": [
            _UPTIME,
            _reading("power:inlet_voltage", "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.4", "V", **VOLTAGE_LIMITS),
            _reading("power:inlet_current", "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.1", "A", 0.001),
            _reading("power:inlet_power", "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.5", "W"),
            _outlets(RARITAN_OUTLETS),
        ],
    },
    "eaton_epdu": {
        "description": "Eaton ePDU (switched / managed)",
        "mib": "EATON-EPDU-MIB: inputVoltage, inputCurrent (0.001 A), inputWatts, outletControlStatus",
        "sys_object_ids": ["1.3.6.1.4.1.534.6.6.7"],
        "checks": [
            _UPTIME,
            _reading("power:inlet_voltage", "1.3.6.1.4.1.534.6.6.7.3.2.1.3.0.1.1", "V", 0.001, **VOLTAGE_LIMITS),
            _reading("power:inlet_current", "1.3.6.1.4.1.534.6.6.7.3.3.1.4.0.1.1", "A", 0.001),
            _reading("power:inlet_power", "1.3.6.1.4.1.534.6.6.7.3.4.1.4.0.1.1", "W"),
            _outlets(EATON_EPDU_OUTLETS),
        ],
    },
    "entity_sensor": {
        "description": "Any device publishing ENTITY-SENSOR-MIB (PDU inlets, SFP optical power): "
                       "voltage, current, power and dBm sensors by name",
        "mib": "ENTITY-SENSOR-MIB entPhySensorTable, ENTITY-MIB entPhysicalName",
        "checks": [
            _UPTIME, _link(["uplink", "client"]),
            {"key": "sensors", "rule": "sensors", "walk": {**ENT_SENSOR, "name": ENT_PHYSICAL_NAME},
             "params": {"limits": {"voltsAC": VOLTAGE_LIMITS, "dBm": {"low_warning": -24, "low_critical": -28}}},
             "sample": True},
        ],
    },
    "generic": {
        "description": "PDU, switch, router, server: reachability, uptime and uplink ports",
        "mib": "SNMPv2-MIB, IF-MIB",
        "checks": [_UPTIME, _link(["uplink"])],
    },
}

#: The profile used when an asset names none and `auto` finds nothing better.
DEFAULT_PROFILE_BY_KIND = {
    "media_converter": "media_converter",
    "ups": "ups",
    "pdu": "generic",
    "switch": "generic",
    "router": "generic",
    "server": "generic",
    "other": "generic",
}
#: An asset's `profile` value meaning "choose by sysObjectID".
AUTO = "auto"

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
    oids: Mapping[str, str] = field(default_factory=dict)
    interfaces: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    sample: bool = False
    walk: Mapping[str, str] = field(default_factory=dict)  # role -> table column walked with GETBULK
    optional: bool = False  # a device without these OIDs simply has no such check

    @property
    def per_interface(self) -> bool:
        return bool(self.interfaces)


@dataclass(frozen=True)
class Profile:
    name: str
    checks: tuple[CheckSpec, ...]
    description: str = ""
    mib: str = ""
    sys_object_ids: tuple[str, ...] = ()


class ProfileError(ValueError):
    pass


def _numeric(oid: str) -> bool:
    return all(part.isdigit() or part == "{if_index}" for part in oid.split("."))


def load_profiles(data: Mapping[str, dict]) -> dict[str, Profile]:
    """Validate profile data and build Profile objects; errors name the entry."""
    from probes.interpret import RULES

    profiles = {}
    for name, entry in data.items():
        if name == AUTO:
            raise ProfileError(f"{AUTO!r} is reserved: it means 'choose by sysObjectID'")
        checks = []
        for i, c in enumerate(entry.get("checks") or ()):
            where = f"profile {name!r}, check {i} ({c.get('key', '?')})"
            if c.get("rule") not in RULES:
                raise ProfileError(f"{where}: rule must be one of {', '.join(sorted(RULES))}")
            oids = dict(c.get("oids") or {})
            walk = dict(c.get("walk") or {})
            if not (oids or walk) or not c.get("key"):
                raise ProfileError(f"{where}: needs a key and at least one OID")
            for oid in (*oids.values(), *walk.values()):
                if not _numeric(oid):
                    raise ProfileError(f"{where}: {oid!r} is not a numeric OID")
            checks.append(
                CheckSpec(
                    key=c["key"],
                    rule=c["rule"],
                    oids=oids,
                    interfaces=tuple(c.get("interfaces") or ()),
                    params=dict(c.get("params") or {}),
                    sample=bool(c.get("sample", False)),
                    walk=walk,
                    optional=bool(c.get("optional", False)),
                )
            )
        ids = tuple(entry.get("sys_object_ids") or ())
        for oid in ids:
            if not _numeric(oid):
                raise ProfileError(f"profile {name!r}: sys_object_ids {oid!r} is not a numeric OID")
        profiles[name] = Profile(name=name, checks=tuple(checks), description=entry.get("description", ""),
                                 mib=entry.get("mib", ""), sys_object_ids=ids)
    if "generic" not in profiles:
        raise ProfileError("a profile set needs a 'generic' profile (the fallback)")
    return profiles


def _read_extra(path: Path) -> dict:
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    data: dict = {}
    for file in files:
        try:
            loaded = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise ProfileError(f"{file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ProfileError(f"{file}: expected an object of profile name -> profile")
        data.update(loaded)
    return data


def builtin_profiles(extra: str | Path | Mapping[str, dict] | None = None) -> dict[str, Profile]:
    """The built-in profiles, plus (overriding by name) those of a JSON file or
    of every *.json file of a directory (RACKCARD_PROFILES), or of a mapping
    (the set a server serves its workers)."""
    data = dict(PROFILE_DATA)
    if isinstance(extra, Mapping):
        data.update(extra)
    elif extra:
        data.update(_read_extra(Path(extra)))
    return load_profiles(data)


def extra_profile_data(env: Mapping[str, str] | None = None) -> dict:
    """The profile entries RACKCARD_PROFILES adds: what a server serves its workers."""
    import os

    env = os.environ if env is None else env
    return _read_extra(Path(env["RACKCARD_PROFILES"])) if env.get("RACKCARD_PROFILES") else {}


def profiles_from_env(env: Mapping[str, str] | None = None) -> dict[str, Profile]:
    """The one profile set of this installation: built-ins + RACKCARD_PROFILES.
    Every process that polls (server poll-now, embedded and remote workers) loads it here."""
    import os

    env = os.environ if env is None else env
    return builtin_profiles(env.get("RACKCARD_PROFILES") or None)


_installed: dict[str, dict[str, Profile]] = {}


def installed_profiles() -> dict[str, Profile]:
    """profiles_from_env(), loaded once per process (per RACKCARD_PROFILES value)."""
    import os

    source = os.environ.get("RACKCARD_PROFILES", "")
    if source not in _installed:
        _installed[source] = profiles_from_env()
    return _installed[source]


def check_overrides(text: str) -> dict:
    """An asset's probe overrides: JSON object of check key -> parameters
    (e.g. {"power:input_voltage": {"scale": 0.1}}). Raises ValueError saying what is wrong."""
    if not text or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in data.items()):
        raise ValueError('must be a JSON object of check key -> parameters, e.g. {"power:input_voltage": {"scale": 0.1}}')
    return data


def profile_names(profiles: Mapping[str, Profile]) -> list[str]:
    """What an asset's `profile` may say: `auto` or a known profile."""
    return [AUTO, *sorted(profiles)]


def auto_profile(sys_object_id: str | None, profiles: Mapping[str, Profile]) -> Profile | None:
    """The profile whose sys_object_ids has the longest prefix of `sys_object_id`."""
    if not sys_object_id:
        return None
    best: tuple[int, Profile] | None = None
    for profile in profiles.values():
        for prefix in profile.sys_object_ids:
            if sys_object_id == prefix or sys_object_id.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), profile)
    return best[1] if best else None


def profile_for(kind: str, name: str | None, profiles: Mapping[str, Profile], sys_object_id: str | None = None
                ) -> Profile:
    """The asset's profile: its named one; for `auto` (or none, once the
    sysObjectID is known) the best sysObjectID match; else the kind's default."""
    if name and name != AUTO and name in profiles:
        return profiles[name]
    if (name == AUTO or not name) and sys_object_id:
        found = auto_profile(sys_object_id, profiles)
        if found is not None:
            return found
    return profiles.get(DEFAULT_PROFILE_BY_KIND.get(kind, "generic")) or profiles["generic"]
