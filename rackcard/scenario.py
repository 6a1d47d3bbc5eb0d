"""The demo's scenario: faults played on the simulated SNMP agents, in a loop,
so a newcomer watches incidents open, name their clients and resolve on the
board within a couple of minutes of `rackcard demo` (`--quiet` turns it off).

Nothing here talks to the incident engine: the scenario only rewrites the
agents' recordings (probes.simulator), and the real probe worker polls them,
so what appears on the board is the product working end to end.

One cycle (at time_scale 1, about five minutes):
  0 s    a fiber cut on a client port of a remote-node media converter (copper stays up)
  75 s   the fiber comes back (the incident resolves after the recovery hold)
  90 s   the remote node's UPS goes on battery, minutes remaining falling
  165 s  mains back
  180 s  a flapping client port: its fiber goes down and up every 12 s for a minute
  300 s  the next cycle
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable, Sequence

from probes.simulator import SimAgent, SimDevice, media_converter_rec, recording_for, ups_rec

log = logging.getLogger("rackcard.demo.scenario")

#: Demo assets the scenario plays on poll this often, so that a fault is confirmed
#: (three polls) within about half a minute.
SCENARIO_POLL_S = 10
CYCLE_S = 300.0
ON_BATTERY, ON_MAINS = 5, 3


@dataclass(frozen=True)
class Step:
    at_s: float  # seconds from the start of the cycle (before time_scale)
    community: str  # the device's recording
    recording: str
    note: str


def _ports(device: SimDevice, down: set[int] = frozenset()) -> dict[int, tuple[str, int, int]]:
    """The device's ports as its recording shows them; `down` ifIndexes are oper down."""
    return {i: (name or f"port{i}", 1, 2 if i in down else 1) for i, _role, name in device.interfaces}


def _fiber_port(device: SimDevice) -> int | None:
    return next((i for i, role, _ in device.interfaces if role == "fiber"), None)


def pick_devices(devices: Sequence[SimDevice], remote: frozenset[str] = frozenset()) -> dict[str, SimDevice]:
    """The scenario's cast: a media converter with a fiber client port and a UPS, those
    at a remote site (`remote`: their communities) first: that is where fiber and power
    fail; and a converter elsewhere for the flapping port."""
    def remote_first(d: SimDevice) -> tuple:
        return (d.community not in remote, d.community)

    converters = sorted((d for d in devices if d.kind == "media_converter" and _fiber_port(d)), key=remote_first)
    upses = sorted((d for d in devices if d.kind == "ups"), key=remote_first)
    cast: dict[str, SimDevice] = {}
    if converters:
        cast["fiber"] = converters[0]
        # the flapping port away from the remote UPS, so it is its own incident, not part of the power one
        elsewhere = [d for d in converters[1:] if d.community not in remote]
        cast["flap"] = (elsewhere or converters[1:] or converters)[0]
    if upses:
        cast["ups"] = upses[0]
    return cast


def cycle(devices: Sequence[SimDevice], remote: frozenset[str] = frozenset()) -> list[Step]:
    """One cycle of the scenario, in time order."""
    cast = pick_devices(devices, remote)
    steps: list[Step] = []
    if "fiber" in cast:
        mc = cast["fiber"]
        fx = _fiber_port(mc)
        steps += [
            Step(0, mc.community, media_converter_rec(mc.community, _ports(mc, {fx}), uptime_ticks=None),
                 f"fiber cut on {mc.community} port {fx}"),
            Step(75, mc.community, recording_for(mc), f"fiber on {mc.community} back"),
        ]
    if "ups" in cast:
        ups = cast["ups"]
        for k, minutes in enumerate((42, 37, 31, 26, 20)):
            steps.append(Step(90 + 15 * k, ups.community,
                              ups_rec(ups.community, source=ON_BATTERY, minutes=minutes, voltage=0, uptime_ticks=None),
                              f"{ups.community} on battery, {minutes} min left"))
        steps.append(Step(165, ups.community, recording_for(ups), f"{ups.community} back on mains"))
    if "flap" in cast:
        mc = cast["flap"]
        fx = _fiber_port(mc)
        for k in range(5):
            at = 180 + 12 * k
            steps.append(Step(at, mc.community,
                              media_converter_rec(mc.community, _ports(mc, {fx} if k % 2 == 0 else set()), uptime_ticks=None),
                              f"{mc.community} port {fx} {'down' if k % 2 == 0 else 'up'} (flapping)"))
        steps.append(Step(180 + 12 * 5, mc.community, recording_for(mc), f"{mc.community} port {fx} stable"))
    return sorted(steps, key=lambda s: s.at_s)


async def play(agent: SimAgent, devices: Sequence[SimDevice], *, remote: frozenset[str] = frozenset(),
               time_scale: float = 1.0, cycles: int | None = None,
               sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> int:
    """Play the scenario on `agent` (forever when cycles is None); returns the steps played.

    time_scale < 1 plays it faster (the tests use a short clock)."""
    steps = cycle(devices, remote)
    if not steps:
        log.info("demo scenario: no media converter or UPS to play on")
        return 0
    played = 0
    n = 0
    while cycles is None or n < cycles:
        elapsed = 0.0
        for step in steps:
            await sleep(max(0.0, (step.at_s - elapsed) * time_scale))
            elapsed = step.at_s
            await asyncio.to_thread(agent.write, step.community, step.recording)
            log.info("demo scenario: %s", step.note)
            played += 1
        await sleep(max(0.0, (CYCLE_S - elapsed) * time_scale))
        n += 1
    return played


#: The demo's SLA plans (minutes per priority): the scenario's incidents get due times and countdowns.
DEMO_PLANS = (
    {"name": "Gold 24x7", "hours": "24x7", "timezone": "Europe/Moscow",
     "response_minutes": {"P1": 15, "P2": 30, "P3": 60, "P4": 240},
     "resolution_minutes": {"P1": 240, "P2": 480, "P3": 1440, "P4": 2880}},
    {"name": "Standard", "hours": "business", "timezone": "Europe/Moscow",
     "response_minutes": {"P1": 30, "P2": 60, "P3": 240, "P4": 480},
     "resolution_minutes": {"P1": 480, "P2": 1440, "P3": 2880, "P4": 5760}},
)


async def prepare(devices: Sequence[SimDevice], remote: frozenset[str] = frozenset()) -> None:
    """Before the probe worker starts: SLA plans on the demo clients (when there are
    none yet), and a short poll interval on the devices the scenario plays on."""
    from accounts.viewer import SYSTEM
    from cmdb import services as cmdb
    from cmdb.tables import Asset, Client
    from incidents import admin
    from incidents.tables import SlaPlan

    if not await SlaPlan.count():
        plans = [(await admin.create_plan(SYSTEM, dict(p)))["id"] for p in DEMO_PLANS]
        clients = await Client.select(Client.id).where(Client.sla_plan_id.is_null()).order_by(Client.id)
        for k, c in enumerate(clients):  # every other client on the gold plan
            await cmdb.clients.update(SYSTEM, c["id"], {"sla_plan_id": plans[k % 2]})
    cast = {d.community for d in pick_devices(devices, remote).values()}
    if cast:
        for a in await Asset.select(Asset.id).where(Asset.snmp_community.is_in(sorted(cast))):
            await cmdb.assets.update(SYSTEM, a["id"], {"poll_interval_s": SCENARIO_POLL_S})


@asynccontextmanager
async def running_scenario(agent: SimAgent, devices: Sequence[SimDevice], remote: frozenset[str] = frozenset(),
                           time_scale: float = 1.0) -> AsyncIterator[asyncio.Task]:
    """Prepare the demo for the scenario, then play it in the background until the context ends."""
    await prepare(devices, remote)
    task = asyncio.create_task(play(agent, devices, remote=remote, time_scale=time_scale), name="demo-scenario")
    log.info("demo scenario playing: a fiber cut, a UPS on battery and a flapping port, every %d s "
             "(rackcard demo --quiet turns it off)", int(CYCLE_S))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
