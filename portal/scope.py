"""The viewer-scoped query layer of the client portal.

Every portal read and write goes through a `PortalScope`, built from the
viewer: it refuses anyone but a client user and fixes the client id once, so
no handler can forget a `WHERE client = ...`. It has its own serialisers and
never returns a staff one: an incident's staff view lists every affected
client, internal timeline entries and support lines; an asset's carries the
management address and SNMP settings. Here an incident shows only the viewer's
own assets, public entries meant for everyone or for this client, and text in
which the names of other clients and of their equipment are masked (a shared
power incident affecting A and B shows each only itself).

A foreign id is answered exactly like an id that does not exist (404 in a
path, 422 naming the field in a body): nobody learns that another client's
object exists.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional, TypedDict

from database.transactions import atomic
from accounts.errors import Forbidden, Invalid, NotFound
from accounts.services import audit
from accounts.tables import User
from accounts.viewer import Viewer
from cmdb.impact import impact_of
from cmdb.services import CONTACT_LANGUAGES
from cmdb.tables import Asset, Client, Contact, Interface, IPAddress, Prefix, Rack, Service, Site
from incidents import checks as incident_checks
from incidents import kb, kpi_store
from incidents.client_view import Masker, client_views
from incidents import services as incident_services
from incidents import workflow
from incidents.tables import (
    AffectedClient,
    CheckState,
    Incident,
    MaintenanceWindow,
    SlaPlan,
    TimelineEntry,
)

UTC = dt.timezone.utc
#: What a client may ask for from the portal (the incident's category is `request`).
REQUEST_KINDS = ("reboot", "no_internet", "other")
#: The knowledge-base categories offered before each kind of request is filed.
REQUEST_ARTICLES = {"reboot": ("reboot", "request"), "no_internet": ("fiber", "equipment", "reboot", "request"),
                    "other": ("other", "request")}
REQUEST_TITLES = {"reboot": "Reboot request", "no_internet": "No internet", "other": "Request"}
#: Timeline kinds a client never sees, even when public (delivery records).
HIDDEN_KINDS = frozenset({"notification"})
STATE_ORDER = {"critical": 3, "warning": 2, "unknown": 1, "ok": 0}
PAST = "past"


class PortalPowerCycleOut(TypedDict):
    """A self-service power-cycle as the client sees it (no PDU details)."""

    asset_id: int
    asset_name: str
    dry_run: bool
    incident_id: Optional[int]
    status: str  # dry_run | queued
    also_loses_power: list[str]


async def _clients_hit_by(asset_id: int) -> set[int]:
    """The clients an asset's downtime would hit (down or at risk); none for an asset that is gone."""
    try:
        return {c["client_id"] for c in (await impact_of([asset_id]))["clients"]}
    except NotFound:
        return set()


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return incident_services.aware(value)


def worst_state(states: Iterable[str]) -> str | None:
    """The asset's state at a glance: its worst check (None = not monitored)."""
    found = list(states)
    return max(found, key=lambda s: STATE_ORDER.get(s, 1)) if found else None


@dataclass(frozen=True)
class Request:
    kind: str  # reboot | no_internet | other
    asset_id: int | None = None
    title: str = ""
    description: str = ""


class PortalScope:
    """Everything one client user may read or do in the portal."""

    def __init__(self, viewer: Viewer):
        if not viewer.is_client or viewer.client_id is None:
            raise Forbidden("the portal is for client users")
        self.viewer = viewer
        self.client_id: int = viewer.client_id

    # ------------------------------------------------------------ company

    async def company(self) -> dict:
        row = await Client.select(Client.id, Client.code, Client.name, Client.contract_number, Client.status,
                                  Client.timezone, Client.sla_plan_id).where(Client.id == self.client_id).first()
        if row is None:
            raise NotFound("your company is no longer in the inventory")
        return {
            "id": row["id"], "code": row["code"], "name": row["name"], "contract_number": row["contract_number"],
            "status": row["status"], "timezone": row["timezone"], "sla": await self._plan(row["sla_plan_id"]),
        }

    async def _plan(self, plan_id: int | None) -> dict | None:
        if plan_id is None:
            return None
        p = await SlaPlan.select().where(SlaPlan.id == plan_id).first()
        if p is None:
            return None
        priorities = workflow.PRIORITIES
        return {
            "name": p["name"], "hours": p["hours"], "timezone": p["timezone"],
            "business_days": [int(d) for d in p["business_days"].split(",") if d.strip()],
            "business_start": p["business_start"], "business_end": p["business_end"],
            "response_minutes": {k: p[f"response_{k.lower()}"] for k in priorities},
            "resolution_minutes": {k: p[f"resolution_{k.lower()}"] for k in priorities},
        }

    async def contacts(self) -> list[dict]:
        """The company's contacts; `you` marks the one linked to the viewer's user."""
        rows = await Contact.select().where(Contact.client == self.client_id).order_by(Contact.name_norm)
        return [{"id": r["id"], "name": r["name"], "email": r["email"], "phone": r["phone"], "role": r["role"],
                 "notify": r.get("notify", False), "language": r.get("language", "en"),
                 "you": r.get("user_id") is not None and r.get("user_id") == self.viewer.user_id} for r in rows]

    async def set_my_notifications(self, notify: Any, language: Any) -> dict:
        """The viewer's own incident e-mail wishes, on the contact linked to their user
        (staff link it); nobody else's contact can be changed from the portal."""
        if not isinstance(notify, bool):
            raise Invalid("notify must be true or false", field="notify")
        if language not in CONTACT_LANGUAGES:
            raise Invalid(f"language must be one of {', '.join(CONTACT_LANGUAGES)}", field="language")
        mine = await Contact.select(Contact.id).where(
            (Contact.client == self.client_id) & (Contact.user_id == self.viewer.user_id)).first() \
            if self.viewer.user_id is not None else None
        if mine is None:
            raise NotFound("no contact of your company is linked to your user; ask support to link it",
                           field="contact")
        async with atomic():
            await Contact.update({Contact.notify: notify, Contact.language: language}).where(Contact.id == mine["id"])
            await audit(self.viewer, "update", "contact", mine["id"], {"notify": notify, "language": language})
        return next(c for c in await self.contacts() if c["id"] == mine["id"])

    # ------------------------------------------------------------ equipment

    async def own_asset_ids(self) -> set[int]:
        return {r["id"] for r in await Asset.select(Asset.id).where(Asset.client == self.client_id)}

    async def assets(self) -> list[dict]:
        """The client's own equipment with live state; no management address, SNMP or notes."""
        rows = await Asset.select(
            Asset.id, Asset.name, Asset.kind, Asset.manufacturer, Asset.model, Asset.serial, Asset.status,
            Asset.position_u, Asset.height_u, Asset.site.id, Asset.site.name, Asset.rack.id, Asset.rack.name,
        ).where(Asset.client == self.client_id).order_by(Asset.site.name).order_by(Asset.rack.name) \
            .order_by(Asset.position_u).order_by(Asset.name)
        states = await self._checks([r["id"] for r in rows])
        out = []
        for r in rows:
            own = states.get(r["id"], [])
            out.append({
                "id": r["id"], "name": r["name"], "kind": r["kind"], "manufacturer": r["manufacturer"],
                "model": r["model"], "serial": r["serial"], "status": r["status"],
                "site": {"id": r["site.id"], "name": r["site.name"]},
                "rack": {"id": r["rack.id"], "name": r["rack.name"]} if r["rack.id"] else None,
                "position_u": r["position_u"], "height_u": r["height_u"],
                "state": worst_state(c["state"] for c in own), "checks": own,
            })
        return out

    async def _checks(self, asset_ids: list[int], keys: dict[int, set[str]] | None = None) -> dict[int, list[dict]]:
        if not asset_ids:
            return {}
        out: dict[int, list[dict]] = {}
        for c in await CheckState.select(CheckState.asset, CheckState.key, CheckState.state, CheckState.value,
                                         CheckState.since).where(CheckState.asset.is_in(asset_ids)) \
                .order_by(CheckState.key):
            if keys is not None and c["key"] not in keys.get(c["asset"], set()):
                continue
            out.setdefault(c["asset"], []).append(
                {"key": c["key"], "state": c["state"], "value": c["value"], "since": _aware(c["since"])})
        return out

    async def ports(self) -> list[dict]:
        """The client's ports on shared equipment (a media converter chassis slot,
        a switch port) with the port's link state. Equipment that belongs to
        another client is not named."""
        rows = await Interface.select(
            Interface.id, Interface.if_index, Interface.name, Interface.role, Interface.asset.id,
            Interface.asset.name, Interface.asset.kind, Interface.asset.client, Interface.asset.site.name,
        ).where((Interface.client == self.client_id)).order_by(Interface.asset.name).order_by(Interface.if_index)
        wanted: dict[int, set[str]] = {}
        for r in rows:
            wanted.setdefault(r["asset.id"], set()).add(f"link:{r['if_index']}")
        states = await self._checks(list(wanted), wanted)
        out = []
        for r in rows:
            owner = r["asset.client"]
            if owner == self.client_id:
                equipment = r["asset.name"]
            elif owner is None:
                equipment = r["asset.name"]  # ours, shared between clients
            else:
                equipment = None
            link = next((c for c in states.get(r["asset.id"], []) if c["key"] == f"link:{r['if_index']}"), None)
            out.append({
                "equipment": equipment, "equipment_kind": r["asset.kind"], "site": r["asset.site.name"],
                "if_index": r["if_index"], "name": r["name"], "role": r["role"],
                "state": link["state"] if link else None, "since": link["since"] if link else None,
                "asset_id": r["asset.id"] if owner in (None, self.client_id) else None,
            })
        return out

    async def addresses(self) -> dict:
        ips = await IPAddress.select(IPAddress.address, IPAddress.prefix_len, IPAddress.family, IPAddress.asset.client,
                                     IPAddress.asset.name).where(IPAddress.client == self.client_id) \
            .order_by(IPAddress.family).order_by(IPAddress.ip_key)
        prefixes = await Prefix.select(Prefix.prefix, Prefix.family, Prefix.site.name).where(
            Prefix.client == self.client_id).order_by(Prefix.family).order_by(Prefix.first_key)
        return {
            "ip_addresses": [{"address": r["address"], "prefix_len": r["prefix_len"], "family": r["family"],
                              "asset": r["asset.name"] if r["asset.client"] == self.client_id else None}
                             for r in ips],
            "prefixes": [{"prefix": r["prefix"], "family": r["family"], "site": r["site.name"]} for r in prefixes],
        }

    async def services(self) -> list[dict]:
        rows = await Service.select(Service.id, Service.kind, Service.bandwidth_mbps, Service.status,
                                    Service.description, Service.site.name).where(
            Service.client == self.client_id).order_by(Service.site.name).order_by(Service.kind)
        return [{"id": r["id"], "kind": r["kind"], "site": r["site.name"], "bandwidth_mbps": r["bandwidth_mbps"],
                 "status": r["status"], "description": r["description"]} for r in rows]

    async def samples(self, asset_id: int, key: str | None = None, since: dt.datetime | None = None) -> list[dict]:
        """Graph data of one of the client's own assets."""
        await self._own_asset(asset_id, field="id", missing=NotFound)
        return await incident_checks.read_samples(asset_id, key, since)

    async def _own_asset(self, asset_id: int, *, field: str, missing: type) -> dict:
        row = await Asset.select(Asset.id, Asset.name).where(
            (Asset.id == asset_id) & (Asset.client == self.client_id)).first()
        if row is None:
            raise missing(f"no asset {asset_id}", field=field)
        return row

    # ------------------------------------------------------------ incidents

    def _visible(self):
        return Incident.id.is_in(
            AffectedClient.select(AffectedClient.incident).where(AffectedClient.client_id == self.client_id))

    async def incidents(self, status: str | None = None, *, limit: int, offset: int) -> tuple[int, list[dict]]:
        """`status`: open (before resolved), past (resolved or closed), or one status."""
        clauses = [self._visible()]
        if status == "open":
            clauses.append(Incident.status.is_in(list(workflow.OPEN_STATUSES)))
        elif status == PAST:
            clauses.append(Incident.status.is_in([workflow.RESOLVED, workflow.CLOSED]))
        elif status:
            if status not in workflow.STATUSES:
                raise Invalid(f"status must be open, past or one of {', '.join(workflow.STATUSES)}", field="status")
            clauses.append(Incident.status == status)
        count = await Incident.count().where(*clauses)
        rows = await Incident.select().where(*clauses).order_by(Incident.opened_at, ascending=False) \
            .order_by(Incident.id, ascending=False).limit(limit).offset(offset)
        return count, await self._serialise_incidents(rows)

    async def incident(self, incident_id: int) -> dict:
        row = await Incident.select().where((Incident.id == incident_id) & self._visible()).first()
        if row is None:
            raise NotFound(f"no incident {incident_id}", field="id")
        out = (await self._serialise_incidents([row], detail=True))[0]
        return out

    async def _serialise_incidents(self, rows: list[dict], detail: bool = False) -> list[dict]:
        if not rows:
            return []
        views = await client_views([r["id"] for r in rows], self.client_id)
        now = incident_services.utcnow()
        out = []
        for r in rows:
            mask = views[r["id"]].mask
            due = await incident_services.due_times_for_client(r, self.client_id, now)
            item = {
                "id": r["id"], "title": mask(r["title"]), "category": r["category"], "priority": r["priority"],
                "status": r["status"], "source": r["source"],
                "opened_at": _aware(r["opened_at"]), "acknowledged_at": _aware(r["acknowledged_at"]),
                "first_response_at": _aware(r["first_response_at"]), "resolved_at": _aware(r["resolved_at"]),
                "closed_at": _aware(r["closed_at"]),
                "affected_assets": views[r["id"]].own_assets,
                "sla": {
                    "applies": due.plan_id is not None,
                    "response_due_at": due.response_due_at, "resolution_due_at": due.resolution_due_at,
                    "response_breached": due.response_breached, "resolution_breached": due.resolution_breached,
                    "within": not (due.response_breached or due.resolution_breached),
                },
            }
            if detail:
                item["description"] = mask(r["description"])
                item["timeline"] = await self._timeline(r["id"], mask)
            out.append(item)
        return out

    async def _timeline(self, incident_id: int, mask: Masker) -> list[dict]:
        rows = await TimelineEntry.select(
            TimelineEntry.id, TimelineEntry.at, TimelineEntry.kind, TimelineEntry.author,
            TimelineEntry.author_user_id, TimelineEntry.body, TimelineEntry.data,
        ).where((TimelineEntry.incident == incident_id) & (TimelineEntry.visibility == "public")) \
            .order_by(TimelineEntry.at).order_by(TimelineEntry.id)
        authors = {r["author_user_id"] for r in rows if r["author_user_id"] is not None}
        ours = {u["id"]: u["email"] for u in await User.select(User.id, User.email).where(
            User.id.is_in(sorted(authors)) & (User.client_id == self.client_id))} if authors else {}
        out = []
        for r in rows:
            if r["kind"] in HIDDEN_KINDS:
                continue
            data = json.loads(r["data"] or "{}") if isinstance(r["data"], str) else (r["data"] or {})
            tagged = data.get("client_id") if isinstance(data, dict) else None
            if tagged is not None and tagged != self.client_id:
                continue  # another client's own words on a shared incident
            if r["author_user_id"] in ours:
                author = ours[r["author_user_id"]]
            elif r["author"] in (incident_services.ENGINE_AUTHOR, incident_services.SYSTEM_AUTHOR):
                author = "monitoring"
            else:
                author = "support"
            out.append({"id": r["id"], "at": _aware(r["at"]), "kind": r["kind"], "author": author,
                        "body": mask(r["body"])})
        return out

    # ------------------------------------------------------------ maintenance

    async def _site_ids(self) -> set[int]:
        sites = {r["site"] for r in await Asset.select(Asset.site).where(Asset.client == self.client_id)}
        sites |= {r["site"] for r in await Rack.select(Rack.site).where(Rack.client == self.client_id)}
        sites |= {r["site"] for r in await Service.select(Service.site).where(Service.client == self.client_id)}
        sites |= {r["asset.site"] for r in await Interface.select(Interface.asset.site)
                  .where(Interface.client == self.client_id)}  # its ports on shared equipment
        return sites

    async def maintenance(self, now: dt.datetime | None = None) -> list[dict]:
        """Windows that affect the client, current and upcoming: on the client, on
        one of its assets, on a site where it has equipment, racks, services or
        ports, or on any asset whose downtime would hit it (the equipment carrying
        its ports, the UPS feeding its router: cmdb.impact, as staff see it)."""
        now = now or incident_services.utcnow()
        own, sites = await self.own_asset_ids(), await self._site_ids()
        scope = MaintenanceWindow.client_id == self.client_id
        if own:
            scope = scope | MaintenanceWindow.asset_id.is_in(sorted(own))
        if sites:
            scope = scope | MaintenanceWindow.site_id.is_in(sorted(sites))
        others = {r["asset_id"] for r in await MaintenanceWindow.select(MaintenanceWindow.asset_id).where(
            MaintenanceWindow.asset_id.is_not_null() & (MaintenanceWindow.ends_at > now))} - own
        hits = [a for a in sorted(others) if self.client_id in await _clients_hit_by(a)]
        if hits:
            scope = scope | MaintenanceWindow.asset_id.is_in(hits)
        rows = await MaintenanceWindow.select(
            MaintenanceWindow.id, MaintenanceWindow.asset_id, MaintenanceWindow.site_id, MaintenanceWindow.client_id,
            MaintenanceWindow.starts_at, MaintenanceWindow.ends_at, MaintenanceWindow.reason,
        ).where(scope & (MaintenanceWindow.ends_at > now)).order_by(MaintenanceWindow.starts_at)
        asset_names = {r["id"]: r["name"] for r in await Asset.select(Asset.id, Asset.name).where(
            Asset.id.is_in(sorted({r["asset_id"] for r in rows if r["asset_id"]}) or [0]))}
        site_names = {r["id"]: r["name"] for r in await Site.select(Site.id, Site.name).where(
            Site.id.is_in(sorted({r["site_id"] for r in rows if r["site_id"]}) or [0]))}
        out = []
        for r in rows:
            if r["asset_id"]:
                on = {"type": "asset", "name": asset_names.get(r["asset_id"], "")}
            elif r["site_id"]:
                on = {"type": "site", "name": site_names.get(r["site_id"], "")}
            else:
                on = {"type": "client", "name": ""}
            starts, ends = _aware(r["starts_at"]), _aware(r["ends_at"])
            out.append({"id": r["id"], "on": on, "starts_at": starts, "ends_at": ends, "reason": r["reason"],
                        "current": starts <= now < ends})
        return out

    # ------------------------------------------------------------ knowledge base and SLA report

    @staticmethod
    def _article(a: dict) -> dict:
        """A public article as the portal shows it (no use counts of other clients' incidents)."""
        out = {"id": a["id"], "title": a["title"], "language": a["language"], "categories": a["categories"],
               "updated_at": a["updated_at"]}
        if "html" in a:
            out["html"] = a["html"]
        return out

    async def articles(self, q: str | None = None, language: str | None = None, *, limit: int = 50,
                       offset: int = 0) -> tuple[int, list[dict]]:
        """Public articles (kb.search scopes a client user to them), best match first."""
        count, found = await kb.search(self.viewer, q=q, language=language, visibility="public", limit=limit,
                                       offset=offset)
        return count, [self._article(a) for a in found]

    async def article(self, article_id: int) -> dict:
        """One public article; an internal one is "not found"."""
        return self._article(await kb.get(self.viewer, article_id))

    async def request_suggestions(self, kind: str | None, asset_id: int | None, language: str | None = None
                                  ) -> list[dict]:
        """"Before you file: try this": public articles for the request's kind and
        the picked equipment's kind and model (only equipment the client may pick)."""
        assets = []
        if asset_id is not None:
            try:
                await self._requestable_asset(asset_id)
            except Invalid:
                pass  # a foreign or missing id adds nothing
            else:
                assets = await Asset.select(Asset.kind, Asset.model).where(Asset.id == asset_id)
        categories = REQUEST_ARTICLES.get(kind or "", ("request",))
        return [self._article(a) for a in await kb.public_suggestions(self.viewer, categories, assets,
                                                                       language=language)]

    async def sla_report(self, query: kpi_store.Query) -> dict:
        """The client's own SLA report: the staff report's numbers for this client
        only (kpi_store.sla_report), without the internal check keys."""
        data = await kpi_store.sla_report(self.viewer, self.client_id, query)
        data["services"] = [{k: v for k, v in s.items() if k != "checks"} for s in data["services"]]
        return data

    # ------------------------------------------------------------ writes

    async def file_request(self, request: Request) -> dict:
        """A request from the portal opens an incident for L1 (category `request`,
        source `portal`) on the client and the asset picked, which must be the
        client's own or shared equipment of ours on which the client has a port."""
        if request.kind not in REQUEST_KINDS:
            raise Invalid(f"category must be one of: {', '.join(REQUEST_KINDS)}", field="category")
        description = (request.description or "").strip()
        if len(description) > 5000:
            raise Invalid("description is at most 5000 characters", field="description")
        title = (request.title or "").strip()
        if len(title) > 200:
            raise Invalid("title is at most 200 characters", field="title")
        asset_ids: tuple[int, ...] = ()
        asset_name = ""
        if request.asset_id is not None:
            asset_name = await self._requestable_asset(request.asset_id)
            asset_ids = (request.asset_id,)
        elif request.kind == "reboot":
            raise Invalid("pick the equipment to reboot", field="asset_id")
        if not title:
            title = REQUEST_TITLES[request.kind] + (f": {asset_name}" if asset_name else "")
        incident_id = await incident_services.open_manual(
            self.viewer,
            incident_services.ManualIncident(title=title, category="request", client_id=self.client_id,
                                             source="portal", description=description, asset_ids=asset_ids),
            now=incident_services.utcnow(),
            opening_data={"client_id": self.client_id, "request": request.kind},
        )
        return await self.incident(incident_id)

    async def power_cycle(self, asset_id: int, reason: str, incident_id: int | None, dry_run: bool) -> dict:
        """A self-service power-cycle of an own device: the incidents layer guards it
        (own asset, contract flag, outlet not shared, cool-down, rate); the answer
        names the device and when, never the PDU."""
        from incidents import power

        done = await power.request_cycle(self.viewer, asset_id, reason, incident_id, dry_run)
        return {"asset_id": done["asset_id"], "asset_name": done["asset_name"], "dry_run": done["dry_run"],
                "incident_id": done["incident_id"], "status": done["status"],
                "also_loses_power": done["also_loses_power"]}

    async def power_cycle_offered(self, asset_ids: list[int]) -> set[int]:
        """Of these own assets, those the portal offers to power-cycle (self-service contract, one known outlet)."""
        from incidents import power

        if not await power.self_service(self.client_id):
            return set()
        own = {r["id"] for r in await Asset.select(Asset.id).where(
            Asset.id.is_in(list(asset_ids) or [0]) & (Asset.client == self.client_id))}
        return await power.switchable(sorted(own), self.client_id)  # not an outlet shared with another client

    async def _requestable_asset(self, asset_id: int) -> str:
        row = await Asset.select(Asset.id, Asset.name, Asset.client).where(Asset.id == asset_id).first()
        if row is not None and row["client"] == self.client_id:
            return row["name"]
        if row is not None and row["client"] is None and await Interface.exists().where(
                (Interface.asset == asset_id) & (Interface.client == self.client_id)):
            return row["name"]
        raise Invalid(f"no asset {asset_id}", field="asset_id")  # a foreign id reads as a missing one

    async def comment(self, incident_id: int, body: str) -> dict:
        await self.incident(incident_id)  # 404 unless the incident affects this client
        await incident_services.add_comment(self.viewer, incident_id, body, "public",
                                            now=incident_services.utcnow(), client_id=self.client_id)
        return await self.incident(incident_id)
