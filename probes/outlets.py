"""PDU outlet control, read from the profile data (pure: no I/O).

A profile's `power:outlets` check names the outlet state column, the control
column(s) and the command values (`probes.profiles`). From that and an outlet
number this module builds what a power-cycle writes and reads, and the steps of
the cycle: "off, confirm off, wait, on, confirm on" where the PDU has separate
off and on commands (every step confirmable), else its own "reboot" command
(the off state looked for, reported unconfirmed when no read caught it).
"""

from __future__ import annotations

from dataclasses import dataclass

from probes.profiles import Profile

OUTLETS_CHECK = "power:outlets"
#: Steps of a cycle: (action, argument). set: write a command; confirm: read the
#: state until it is the argument; wait: seconds with the outlet off.
OFF_WAIT_ON = (("set", "off"), ("confirm", "off"), ("wait", "off_s"), ("set", "on"), ("confirm", "on"))
#: A PDU with only a reboot command switches the outlet back on by itself, perhaps
#: before a read sees it off: "glimpse" reads for the off state and, when it never
#: shows, says so (and goes on) instead of passing for a confirmed cycle.
REBOOT = (("set", "reboot"), ("glimpse", "off"), ("confirm", "on"))
SETTLED = ("on", "off")


@dataclass(frozen=True)
class OutletControl:
    outlet: int
    state_oid: str
    name_oid: str
    commands: dict[str, tuple[str, int]]  # command -> (OID with the outlet index, integer written)
    states: dict[str, str]  # raw state value -> "on" | "off", or the label of an unsettled one ("pending off")

    def meaning(self, raw) -> str | None:
        """"on", "off" (settled states only), the label of another state the profile
        knows (e.g. "pending off", which confirms nothing), or None for an unknown value."""
        return self.states.get(str(raw))

    @property
    def sequence(self) -> tuple[tuple[str, str], ...]:
        if "off" in self.commands and "on" in self.commands:
            return OFF_WAIT_ON
        return REBOOT


def controllable(profile: Profile | None) -> bool:
    """Whether the profile says how to switch its outlets."""
    return _params(profile) is not None


def _params(profile: Profile | None) -> dict | None:
    if profile is None:
        return None
    for check in profile.checks:
        if check.key == OUTLETS_CHECK and check.params.get("control") and check.params.get("commands"):
            return dict(check.params)
    return None


def outlet_control(profile: Profile | None, outlet: int) -> OutletControl | None:
    """The OIDs and values that switch outlet `outlet` of a PDU with this profile."""
    params = _params(profile)
    check = next((c for c in profile.checks if c.key == OUTLETS_CHECK), None) if params else None
    if params is None or check is None or outlet < 1:
        return None
    suffix = params.get("index_suffix", "")
    per_command = params.get("command_oids") or {}
    commands = {name: (f"{per_command.get(name, params['control'])}.{outlet}", int(value))
                for name, value in params["commands"].items()}
    states = {str(raw): str(meaning[0]) if meaning[0] in SETTLED else str(meaning[-1])
              for raw, meaning in (params.get("states") or {}).items()}
    return OutletControl(outlet=outlet, state_oid=f"{check.walk['state']}.{outlet}{suffix}",
                         name_oid=f"{check.walk['name']}.{outlet}", commands=commands, states=states)
