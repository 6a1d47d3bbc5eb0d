"""The worker's side of a remote power-cycle: switch one PDU outlet off and on
over SNMP, confirm each change by reading the outlet state back, then watch the
fed asset come back. Every step is reported to the server as it happens (the
server writes the incident timeline); nothing is retried: a PDU that does not
answer or refuses the SET ends the job with that failure.

Safety: once an "off" was sent, the outlet is switched on again even when a
later step fails, so a failed job does not leave the device dark.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping

from probes.outlets import OutletControl, outlet_control
from probes.profiles import SYS_UPTIME, Profile
from probes.wire import OK, Observation, Target

log = logging.getLogger("rackcard.probes.power")

Report = Callable[[str, bool, str, bool], Awaitable[None]]  # step, ok, message, final


@dataclass(frozen=True)
class PowerJob:
    """A claimed job as the server hands it to the worker serving the PDU's site."""

    job_id: int
    outlet: int
    pdu: Target
    asset: Target | None = None
    off_s: float = 10.0  # how long the outlet stays off
    confirm_s: float = 20.0  # how long a state change may take to show
    watch_s: float = 300.0  # how long the asset may take to answer again
    step_s: float = 2.0  # pause between reads while confirming or watching

    @classmethod
    def from_dict(cls, data: dict) -> "PowerJob":
        asset = data.get("asset")
        return cls(job_id=int(data["job_id"]), outlet=int(data["outlet"]), pdu=Target.from_dict(data["pdu"]),
                   asset=Target.from_dict(asset) if asset else None,
                   **{k: float(data[k]) for k in ("off_s", "confirm_s", "watch_s", "step_s") if k in data})


class Failed(Exception):
    """A step failed; the message says which and why."""

    def __init__(self, step: str, message: str):
        super().__init__(message)
        self.step = step


async def run_job(job: PowerJob, poller, profiles: Mapping[str, Profile], report: Report,
                  emit: Callable[[list[Observation]], Awaitable], sleep=asyncio.sleep) -> bool:
    """Run one job to its end; True when the outlet cycled (and the asset, if watched, answered).
    `emit` posts the asset's observations at once, so its check states lead the steps reported."""
    from probes.worker import AssetMemory, choose_profile, poll_once

    pdu = job.pdu
    profile, _ = await choose_profile(pdu, poller, profiles, AssetMemory())
    control = outlet_control(profile, job.outlet)
    if control is None:
        await report("failed", False, f"profile {profile.name} of PDU {pdu.name} does not say how to switch "
                                      "outlets: nothing was switched", True)
        return False
    switched_off = False
    try:
        name, state = await _read(poller, pdu, control, "read")
        await report("outlet_read", True, f"outlet {job.outlet} ({name or 'no name'}) of {pdu.name} is {state}", False)
        uptime_before = await _uptime(poller, job.asset) if job.asset is not None else None
        for action, arg in control.sequence:
            if action == "set":
                await _set(poller, pdu, control, arg)
                switched_off = switched_off or arg in ("off", "reboot")
                if arg == "on":
                    switched_off = False
                await report(f"sent_{arg}", True, f"{pdu.name}: outlet {job.outlet} {arg} command accepted", False)
            elif action in ("confirm", "glimpse"):
                state = await _wait_for(poller, pdu, control, arg, job, sleep)
                if state != arg and action == "confirm":
                    raise Failed(f"confirm_{arg}_failed", f"outlet {job.outlet} still {state} {job.confirm_s:g} s "
                                                          f"after the {arg} command")
                if state != arg:  # a reboot too short for the reads: said, not passed off as confirmed
                    await report(f"{arg}_unconfirmed", False, f"outlet {job.outlet} was not seen {arg} within "
                                 f"{job.confirm_s:g} s of the reboot command (reads every {job.step_s:g} s; it "
                                 f"reads {state}): the PDU did not confirm the cycle", False)
                    continue
                await report(f"outlet_{arg}", True, f"outlet {job.outlet} is {arg}", False)
                if arg == "off" and job.asset is not None:
                    await emit(await poll_once(job.asset, poller, profiles))  # its checks see it dark
            elif action == "wait":
                await sleep(job.off_s)
    except Failed as exc:
        if switched_off:
            exc = await _restore(poller, pdu, control, exc)
        await report(exc.step, False, str(exc), True)
        return False
    if job.asset is None:
        await report("done", True, "outlet cycled; the device has no SNMP settings: its return is not watched", True)
        return True
    return await _watch(job, poller, profiles, report, emit, sleep, uptime_before)


async def _read(poller, pdu: Target, control: OutletControl, step: str) -> tuple[str, str]:
    result = await poller.get(pdu, [control.state_oid, control.name_oid])
    if result.status != "ok":
        raise Failed(f"{step}_failed", f"PDU {pdu.name} did not answer: {result.message}")
    raw = result.values.get(control.state_oid)
    state = control.meaning(raw)
    if state is None:
        raise Failed(f"{step}_failed", f"PDU {pdu.name} has no outlet {control.outlet} (state read: {raw})")
    name = result.values.get(control.name_oid)
    return (name if isinstance(name, str) else ""), state


async def _set(poller, pdu: Target, control: OutletControl, command: str) -> None:
    oid, value = control.commands[command]
    result = await poller.set(pdu, [(oid, value)])
    if result.status != "ok":
        raise Failed(f"{command}_failed", f"PDU {pdu.name} did not take the {command} command for outlet "
                                          f"{control.outlet}: {result.message}")


async def _wait_for(poller, pdu: Target, control: OutletControl, wanted: str, job: PowerJob, sleep) -> str:
    """Read the outlet until it is `wanted` (a settled state: "pending off" is not
    "off"), at most `confirm_s`; the last state read."""
    waited = 0.0
    while True:
        _, state = await _read(poller, pdu, control, f"confirm_{wanted}")
        if state == wanted or waited >= job.confirm_s:
            return state
        await sleep(job.step_s)
        waited += job.step_s


async def _restore(poller, pdu: Target, control: OutletControl, failure: Failed) -> Failed:
    """After a failure with the outlet possibly off: one "on" command, named in the failure."""
    if "on" not in control.commands:
        return failure
    result = await poller.set(pdu, [control.commands["on"]])
    then = "switched it on again" if result.status == "ok" else f"could not switch it on again ({result.message})"
    return Failed(failure.step, f"{failure}; {then}")


async def _uptime(poller, asset: Target) -> int | None:
    """The device's sysUpTime (ticks) before the cycle, to tell a restart afterwards."""
    result = await poller.get(asset, [SYS_UPTIME])
    ticks = result.values.get(SYS_UPTIME) if result.status == "ok" else None
    return ticks if isinstance(ticks, int) and not isinstance(ticks, bool) else None


def _ticks(observations: list[Observation]) -> int | None:
    value = next((o.value for o in observations if o.key == "uptime"), None)
    return int(value) if value and value.isdigit() else None


async def _watch(job: PowerJob, poller, profiles, report: Report, emit, sleep, uptime_before: int | None) -> bool:
    """Poll the asset (its observations go the usual way) until it answers and its
    link checks, if it has any, are ok; then say whether its uptime went back (it
    restarted). At most `watch_s`: a device that answers with a link still down ends
    the job as failed, naming the link."""
    from probes.worker import poll_once

    name = job.asset.name
    waited, answered = 0.0, False
    while True:
        observations = await poll_once(job.asset, poller, profiles)
        await emit(observations)
        reach = next((o for o in observations if o.key == "reachability"), None)
        down = [f"{o.key} {o.value or o.state}" for o in observations if o.key.startswith("link:") and o.state != OK]
        links = sum(o.key.startswith("link:") for o in observations)
        if reach is not None and reach.state == OK:
            if not answered and down:
                await report("asset_reachable", True, f"{name} answers again; waiting for its links "
                                                      f"({', '.join(down)})", False)
            answered = True
            if not down:
                await _report_restart(name, uptime_before, _ticks(observations), report)
                uptime = next((o.message for o in observations if o.key == "uptime"), "")
                await report("asset_back", True, f"{name} answers again" + (f" ({uptime})" if uptime else "")
                             + (f"; {links} link(s) up" if links else ""), True)
                return True
        if waited >= job.watch_s:
            if answered:
                await _report_restart(name, uptime_before, _ticks(observations), report)
                await report("links_not_up", False, f"{name} answers again but {', '.join(down)} not up "
                                                    f"{job.watch_s:g} s after the outlet came back on", True)
            else:
                await report("asset_not_back", False, f"{name} does not answer {job.watch_s:g} s after "
                                                      "the outlet came back on", True)
            return False
        await sleep(job.step_s)
        waited += job.step_s


async def _report_restart(name: str, before: int | None, after: int | None, report: Report) -> None:
    """The uptime reset: evidence the device really lost power (or that it did not)."""
    if before is None or after is None:
        return
    if after < before:
        await report("uptime_reset", True, f"{name} restarted: uptime {before // 100} s before the cycle, "
                                           f"{after // 100} s now", False)
    else:
        await report("uptime_not_reset", False, f"{name}'s uptime did not go back ({before // 100} s before the "
                                                f"cycle, {after // 100} s now): it may not have lost power", False)
