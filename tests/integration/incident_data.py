"""Test data for the incident tests: CMDB rows written with the Piccolo tables
directly (the `*_norm` columns filled by hand), SLA plans, and check updates."""

from __future__ import annotations

import datetime as dt
import itertools

from cmdb.tables import Asset, Client, Contact, Dependency, Interface, Service, ServiceAsset, Site
from incidents.rules import CheckUpdate
from incidents.tables import CheckState, SlaPlan

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
_seq = itertools.count(1)


async def client(name: str = "Acme", *, plan_id: int | None = None, email: str | None = None) -> int:
    n = next(_seq)
    row = Client(code=f"{name.lower()}-{n}", name=name, name_norm=name.lower(), sla_plan_id=plan_id)
    await row.save()
    if email:
        await Contact(client=row.id, name=f"{name} NOC", name_norm=f"{name.lower()} noc", email=email,
                      email_norm=email.lower(), notify=True).save()
    return row.id


async def site(kind: str = "remote", name: str | None = None) -> int:
    n = next(_seq)
    name = name or f"site-{n}"
    row = Site(code=f"s{n}", name=name, name_norm=name.lower(), kind=kind)
    await row.save()
    return row.id


async def asset(site_id: int, name: str | None = None, *, kind: str = "media_converter",
                client_id: int | None = None) -> int:
    n = next(_seq)
    name = name or f"asset-{n}"
    row = Asset(name=name, name_norm=name.lower(), kind=kind, site=site_id, client=client_id)
    await row.save()
    return row.id


async def interface(asset_id: int, if_index: int, role: str, client_id: int | None = None) -> int:
    row = Interface(asset=asset_id, if_index=if_index, name=f"if{if_index}", role=role, client=client_id)
    await row.save()
    return row.id


async def depends(asset_id: int, on: int, kind: str = "power") -> None:
    await Dependency(asset=asset_id, depends_on=on, kind=kind).save()


async def service(client_id: int, site_id: int, *asset_ids: int) -> int:
    row = Service(client=client_id, site=site_id, kind="internet")
    await row.save()
    for a in asset_ids:
        await ServiceAsset(service=row.id, asset=a).save()
    return row.id


async def plan(name: str = "Gold", *, hours: str = "24x7", timezone: str = "UTC", response: int = 30,
               resolution: int = 240, **extra) -> int:
    values = {f"response_p{i}": response * i for i in range(1, 5)}
    values.update({f"resolution_p{i}": resolution * i for i in range(1, 5)})
    values.update(extra)
    row = SlaPlan(name=name, hours=hours, timezone=timezone, **values)
    await row.save()
    return row.id


def update(asset_id: int, key: str, state: str, at: dt.datetime, *, previous: str | None = "ok", streak: int = 1,
           source: str = "trap", since: dt.datetime | None = None, message: str = "") -> CheckUpdate:
    return CheckUpdate(asset_id=asset_id, key=key, state=state, previous_state=previous, streak=streak,
                       since=since or at, observed_at=at, source=source, message=message)


async def store_state(u: CheckUpdate) -> None:
    """What record_observations does to the check state, for tests that drive engine.process directly."""
    existing = await CheckState.objects().where((CheckState.asset == u.asset_id) & (CheckState.key == u.key)).first()
    if existing is None:
        await CheckState(asset=u.asset_id, key=u.key, state=u.state, since=u.since, last_observed_at=u.observed_at,
                         source=u.source, streak=u.streak, message=u.message).save()
    else:
        await CheckState.update({CheckState.state: u.state, CheckState.since: u.since,
                                 CheckState.last_observed_at: u.observed_at, CheckState.streak: u.streak,
                                 CheckState.source: u.source}).where(CheckState.id == existing.id)
