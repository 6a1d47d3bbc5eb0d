"""Support-desk demo content for `rackcard demo`: knowledge-base articles in
Russian and English, canned replies, and six weeks of incident history (probe
and trap incidents, client calls linked to them, acknowledgements, replies,
pending_client waits, escalations, a reopen, self-healed blips) so the
reports show something true on first start.

Seeds only when there are no incidents and no articles yet; everything goes
through the same services as the API (with past times), on the demo
operator's assets and clients (cmdb.demo).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from database.transactions import atomic
from accounts.viewer import SYSTEM, Viewer
from incidents import canned, kb, services

UTC = dt.timezone.utc

ARTICLES = (
    {
        "title": "Нет интернета: порядок перезагрузки медиаконвертера и маршрутизатора",
        "language": "ru", "visibility": "public", "categories": ["equipment", "fiber", "reboot"],
        "asset_kinds": ["media_converter", "router"],
        "body": """Больше 70 % обращений «нет интернета» решает перезагрузка в правильном порядке.

1. Выключите **медиаконвертер** (или выньте его блок питания) на 10 секунд.
2. Включите его и дождитесь, пока загорятся индикаторы **FX** (оптика) и **TP** (медь) — до минуты.
3. Только после этого перезагрузите **маршрутизатор** клиента.
4. Если индикатор FX не горит после перезагрузки — это не оборудование клиента, а линия: откройте
   инцидент категории «fiber» и не перезагружайте дальше.

Перезагружать маршрутизатор раньше конвертера бесполезно: он получит адрес, пока канал ещё не поднялся.""",
    },
    {
        "title": "No internet: the reboot order for the media converter and the router",
        "language": "en", "visibility": "public", "categories": ["equipment", "fiber", "reboot"],
        "asset_kinds": ["media_converter", "router"],
        "body": """Rebooting in the right order fixes most "no internet" calls.

1. Power the **media converter** off (or pull its power supply) for 10 seconds.
2. Power it on and wait until the **FX** (fiber) and **TP** (copper) LEDs light — up to a minute.
3. Only then reboot the client's **router**.
4. If FX stays dark after the reboot, the line is at fault, not the client's equipment: open a
   `fiber` incident and stop rebooting.

Rebooting the router first does not help: it asks for an address while the link is still down.""",
    },
    {
        "title": "Индикаторы медиаконвертера: как читать FX и TP (оптика и медь)",
        "language": "ru", "visibility": "internal", "categories": ["fiber", "equipment"],
        "asset_kinds": ["media_converter"], "asset_models": ["FT-802", "GT-805A", "MC-1610MR"],
        "body": """| FX (оптика) | TP (медь) | что это значит | что делать |
|---|---|---|---|
| горит | горит | канал в порядке | проверить маршрутизатор клиента |
| не горит | горит | нет света в оптике | инцидент «fiber»: патч-корд, кросс, линия до узла |
| горит | не горит | нет линка на медном порту | кабель до маршрутизатора клиента, его питание |
| мигает | — | ошибки на линии, низкий уровень сигнала | проверить rx power в карточке актива |

На шасси Planet MC-1610MR каждый слот — два интерфейса `slot_N_tp` и `slot_N_fx`; пустые слоты
выключены и тревог не дают. Номер ifIndex не равен номеру слота: смотрите имя порта.""",
    },
    {
        "title": "Reading media converter LEDs: FX (fiber) and TP (copper)",
        "language": "en", "visibility": "internal", "categories": ["fiber", "equipment"],
        "asset_kinds": ["media_converter"], "asset_models": ["FT-802", "GT-805A", "MC-1610MR"],
        "body": """| FX (fiber) | TP (copper) | meaning | next step |
|---|---|---|---|
| on | on | the channel is up | check the client's router |
| off | on | no light on the fiber | `fiber` incident: patch cord, cross-connect, the line to the node |
| on | off | no link on the copper port | the cable to the client's router, its power |
| blinking | — | line errors, low signal | check rx power on the asset page |

On a Planet MC-1610MR chassis each slot is two interfaces, `slot_N_tp` and `slot_N_fx`; empty slots
are administratively down and raise no alarm. ifIndex is not the slot number: read the port name.""",
    },
    {
        "title": "Удалённый узел на батарее: что значит остаток времени и кому звонить",
        "language": "ru", "visibility": "internal", "categories": ["power"], "asset_kinds": ["ups", "pdu"],
        "body": """ИБП узла сообщает **оставшееся время работы от батареи** в минутах (upsEstimatedMinutesRemaining).
Это оценка при текущей нагрузке: при 20 минутах и выше есть время выяснить причину, при 5 и ниже
оборудование узла скоро выключится, и все клиенты узла потеряют связь.

1. Проверьте, нет ли работ на узле (окно обслуживания) и нет ли отключения у энергосбыта.
2. Позвоните дежурному электрику площадки (телефон — в карточке узла) и сообщите остаток минут.
3. Предупредите клиентов узла заготовленным ответом «узел на батарее» — в нём остаток времени.
4. Значения 65535 и выше означают «нет оценки», 0 при питании от сети — норма для многих моделей.""",
    },
    {
        "title": "Remote node on battery: what the runtime means and whom to call",
        "language": "en", "visibility": "internal", "categories": ["power"], "asset_kinds": ["ups", "pdu"],
        "body": """The node's UPS reports its **estimated minutes of battery remaining** at the present load.
20 minutes or more leaves time to find the cause; 5 or fewer means the node's equipment will soon
shut down and every client of the node will lose service.

1. Check for works at the node (a maintenance window) and for a utility outage.
2. Call the site's on-call electrician (the number is on the site card) with the minutes left.
3. Warn the node's clients with the "node on battery" canned reply — it carries the minutes left.
4. 65535 and above mean "no estimate"; 0 while on mains is normal for many models.""",
    },
    {
        "title": "Как сообщить об аварии",
        "language": "ru", "visibility": "public", "categories": ["other", "request"],
        "body": """Позвоните в NOC или напишите на адрес поддержки и укажите:

- название компании и номер договора;
- адрес площадки и что не работает (интернет, L2-канал, питание стойки);
- с какого времени, что уже пробовали (перезагрузка конвертера и маршрутизатора — см. статью о порядке);
- как с вами связаться.

Многие аварии мы видим раньше звонка: номер открытого инцидента вам сообщат сразу.""",
    },
    {
        "title": "How to report an outage",
        "language": "en", "visibility": "public", "categories": ["other", "request"],
        "body": """Call the NOC or write to the support address with:

- your company name and contract number;
- the site and what is down (internet, L2 link, rack power);
- since when, and what you already tried (rebooting the converter and the router — see the reboot order);
- how to reach you.

We see many outages before anyone calls: you will get the number of the open incident at once.""",
    },
)

REPLIES = (
    {"name": "Оптика: выехали", "category": "fiber", "language": "ru",
     "body": "{client_name}, на медиаконвертере {asset} (порт {port}, {site}) нет света в оптике. Инцидент "
             "{incident_number} открыт, бригада проверяет линию. Срок восстановления по SLA — {sla_due}."},
    {"name": "Fiber: crew on the way", "category": "fiber", "language": "en",
     "body": "{client_name}, there is no light on the fiber at media converter {asset} (port {port}, {site}). "
             "Incident {incident_number} is open and a crew is checking the line. SLA restoration time: {sla_due}."},
    {"name": "Узел на батарее", "category": "power", "language": "ru",
     "body": "{client_name}, узел {site} работает от батарей: осталось около {battery_minutes} мин. Мы связались "
             "с энергетиками площадки. Инцидент {incident_number}."},
    {"name": "Node on battery", "category": "power", "language": "en",
     "body": "{client_name}, the {site} node is running on batteries with about {battery_minutes} minutes left. "
             "The site's power team is on it. Incident {incident_number}."},
    {"name": "Перезагрузка: порядок", "category": "", "language": "ru",
     "body": "{client_name}, выключите, пожалуйста, медиаконвертер на 10 секунд, дождитесь индикаторов FX и TP и "
             "только потом перезагрузите маршрутизатор. Напишите, помогло ли (инцидент {incident_number})."},
    {"name": "Reboot order", "category": "", "language": "en",
     "body": "{client_name}, please power the media converter off for 10 seconds, wait for its FX and TP lights, "
             "then reboot your router. Let us know whether it helped (incident {incident_number})."},
)

#: What the history draws on: (asset name, category, title) of the usual faults.
FAULTS = (
    ("mc-khimki-1", "fiber", "fiber down on mc-khimki-1"),
    ("mc-khimki-2", "fiber", "fiber down on mc-khimki-2"),
    ("mc-dc2-1", "fiber", "fiber down on mc-dc2-1"),
    ("ups-khimki", "power", "Khimki node on battery"),
    ("sw-khimki", "equipment", "sw-khimki not answering"),
    ("pixel-game-1", "reboot", "pixel-game-1 rebooted"),
    ("rt-border-dc2", "equipment", "rt-border-dc2 unreachable"),
    ("medlab-pdu", "power", "medlab-pdu outlet group off"),
)
CALLS = (
    ("no internet since the morning", "equipment"),
    ("please reboot our server", "reboot"),
    ("the L2 link to the office is down", "fiber"),
    ("rack power is off", "power"),
    ("we need a cross-connect", "request"),
    ("slow speed in the evening", "other"),
)
DAYS = 42


@dataclass
class DeskDemoResult:
    seeded: bool
    articles: int = 0
    replies: int = 0
    incidents: int = 0


async def _empty() -> bool:
    from incidents.desk_tables import KbArticle
    from incidents.tables import Incident

    return not await Incident.exists() and not await KbArticle.exists()


async def seed_desk_demo(viewer: Viewer = SYSTEM, *, now: dt.datetime | None = None, seed: int = 11) -> DeskDemoResult:
    """Seed the articles, replies and history (only into a desk without incidents and articles)."""
    if not await _empty():
        return DeskDemoResult(seeded=False)
    now = (now or services.utcnow()).replace(microsecond=0)
    async with atomic():
        if not await _empty():
            return DeskDemoResult(seeded=False)
        for article in ARTICLES:
            await kb.create(viewer, article, now=now - dt.timedelta(days=DAYS + 1))
        for reply in REPLIES:
            await canned.create(viewer, reply)
        count = await _history(viewer, now, random.Random(seed))
    return DeskDemoResult(True, len(ARTICLES), len(REPLIES), count)


async def _assets() -> dict[str, dict]:
    from database import rawsql

    return {r["name"]: dict(r) for r in await rawsql.fetch("SELECT id, name, client, site FROM cmdb_asset")}


async def _history(viewer: Viewer, now: dt.datetime, rnd: random.Random) -> int:
    assets = await _assets()
    from database import rawsql

    clients = [r["id"] for r in await rawsql.fetch("SELECT id FROM cmdb_client ORDER BY id")]
    if not clients or not assets:
        return 0
    count = 0
    for day in range(DAYS, 0, -1):
        for _ in range(rnd.choice((1, 2, 2, 3))):
            start = (now - dt.timedelta(days=day)).replace(hour=rnd.randint(7, 21), minute=rnd.randint(0, 59))
            if rnd.random() < 0.45:
                count += await _probe_incident(viewer, rnd, start, assets, clients)
            else:
                await _call(viewer, rnd, start, assets, clients)
                count += 1
    # Today: a few still open, so the backlog and its ageing show.
    for hours in (30, 5, 2):
        await _call(viewer, rnd, now - dt.timedelta(hours=hours), assets, clients, finish=False)
        count += 1
    return count


def _at(start: dt.datetime, minutes: float) -> dt.datetime:
    return start + dt.timedelta(minutes=minutes)


async def _work(viewer: Viewer, rnd: random.Random, incident_id: int, start: dt.datetime, *,
                finish: bool = True) -> dt.datetime:
    """A person handles it: acknowledge, reply, maybe wait for the client or escalate, resolve, close."""
    t = _at(start, rnd.expovariate(1 / 9) + 1)
    await services.transition(viewer, incident_id, "acknowledged", now=t)
    await services.transition(viewer, incident_id, "in_progress", now=t)
    t = _at(t, rnd.uniform(3, 25))
    await services.comment(viewer, incident_id, "We are checking the line and the equipment.", "public", now=t)
    if not finish:
        return t
    if rnd.random() < 0.15:
        t = _at(t, rnd.uniform(10, 40))
        await services.escalate(viewer, incident_id, now=t, reason="needs an L2 engineer on site")
    if rnd.random() < 0.2:
        t = _at(t, rnd.uniform(5, 20))
        await services.transition(viewer, incident_id, "pending_client", now=t, reason="waiting for access to the rack")
        t = _at(t, rnd.uniform(30, 240))
        await services.transition(viewer, incident_id, "in_progress", now=t)
    if rnd.random() < 0.25:
        t = _at(t, rnd.uniform(5, 60))
        await services.comment(viewer, incident_id, "Please reboot the converter, then the router.", "public", now=t)
    t = _at(t, rnd.expovariate(1 / 70) + 5)
    await services.transition(viewer, incident_id, "resolved", now=t)
    if rnd.random() < 0.06:
        t = _at(t, rnd.uniform(20, 120))
        await services.transition(viewer, incident_id, "in_progress", now=t, reason="the client says it is down again")
        t = _at(t, rnd.uniform(15, 90))
        await services.transition(viewer, incident_id, "resolved", now=t)
    if rnd.random() < 0.7:
        await services.transition(viewer, incident_id, "closed", now=_at(t, rnd.uniform(60, 1440)))
    return t


async def _probe_incident(viewer: Viewer, rnd: random.Random, start: dt.datetime, assets: dict, clients: list) -> int:
    """A probe or trap incident, sometimes with a client's call about it; returns how many incidents it made."""
    name, category, title = rnd.choice(FAULTS)
    asset = assets.get(name)
    if asset is None:
        return 0
    incident_id = await services.store_incident(
        fingerprint=f"demo:{name}:{start.isoformat()}", title=title, category=category,
        priority=rnd.choice(("P2", "P3", "P3")), source=rnd.choice(("probe", "probe", "trap")), at=start)
    await services.store_assets(incident_id, {asset["id"]: "root"}, start)
    await services.store_clients(incident_id, [c for c in (asset["client"],) if c], start)
    await services.add_entry(incident_id, "event", f"opened: {title}", at=start, visibility="public",
                             author=services.ENGINE_AUTHOR)
    await services.refresh_sla(incident_id, start)
    if rnd.random() < 0.3:  # a blip: recovered before anyone acted
        at = _at(start, rnd.uniform(2, 15))
        await services.set_status(incident_id, "new", "resolved", at, author=services.ENGINE_AUTHOR,
                                  reason="recovered by itself", fields={"resolved_at": at, "self_healed": True})
        return 1
    if asset["client"] and rnd.random() < 0.5:  # the client calls about it some minutes later
        call_at = _at(start, rnd.uniform(3, 25))
        call = await services.create_manual(viewer, services.ManualIncident(
            title="no internet", category=category, client_id=asset["client"], source="phone",
            asset_ids=(asset["id"],)), now=call_at)
        await services.transition(viewer, call["id"], "acknowledged", now=_at(call_at, 2))
        await services.transition(viewer, call["id"], "in_progress", now=_at(call_at, 2))
        await services.comment(viewer, call["id"], f"Known outage, incident {incident_id}; we will update you.",
                               "public", now=_at(call_at, 3))
        end = await _work(viewer, rnd, incident_id, start)
        await services.transition(viewer, call["id"], "resolved", now=_at(max(end, call_at), 1))
        return 2
    await _work(viewer, rnd, incident_id, start)
    return 1


async def _call(viewer: Viewer, rnd: random.Random, start: dt.datetime, assets: dict, clients: list, *,
                finish: bool = True) -> None:
    title, category = rnd.choice(CALLS)
    candidates = [a for a in assets.values() if a["client"]]
    asset = rnd.choice(candidates) if candidates and rnd.random() < 0.7 else None
    client_id = asset["client"] if asset else rnd.choice(clients)
    incident = await services.create_manual(viewer, services.ManualIncident(
        title=title, category=category, client_id=client_id, source=rnd.choice(("phone", "phone", "email", "chat")),
        asset_ids=(asset["id"],) if asset else ()), now=start)
    await _work(viewer, rnd, incident["id"], start, finish=finish)
