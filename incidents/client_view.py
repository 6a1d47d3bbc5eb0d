"""What one client may be told about an incident: its own affected assets,
and text in which other clients' names and their equipment's names are
masked, and so are the management addresses of every affected asset (the
engine's texts quote the poller: "no SNMP answer from 10.1.1.5:161"). The
portal (portal.scope) and client e-mail (incidents.notify) both use this, so
a shared incident reads the same way on the page and in the mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from cmdb.tables import Asset, Client
from incidents.tables import AffectedAsset, AffectedClient

MASKED = "[another client]"
MASKED_ADDRESS = "[management address]"


class Masker:
    """Replaces whole-word occurrences of the given names with MASKED, and the
    given addresses (with a `:port` after one) with MASKED_ADDRESS."""

    def __init__(self, terms: Iterable[str], addresses: Iterable[str] = ()):
        words = sorted({t.strip() for t in terms if t and t.strip()}, key=len, reverse=True)
        self._re = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, words)) + r")(?![\w-])",
                              re.IGNORECASE) if words else None
        hosts = sorted({a.strip() for a in addresses if a and a.strip()}, key=len, reverse=True)
        # 10.1.1.5 but not 10.1.1.50 nor 110.1.1.5; a trailing full stop ends the sentence, not the address
        self._addresses = re.compile(r"(?<![\w.:-])\[?(" + "|".join(map(re.escape, hosts))
                                     + r")\]?(?::\d+)?(?![\w:-]|\.\w)", re.IGNORECASE) if hosts else None

    def __call__(self, text: str | None) -> str:
        if not text:
            return ""
        if self._addresses is not None:
            text = self._addresses.sub(MASKED_ADDRESS, text)
        return self._re.sub(MASKED, text) if self._re is not None else text


@dataclass
class ClientView:
    """One incident as one client may see it."""

    own_assets: list[dict] = field(default_factory=list)  # [{"asset_id", "name", "role"}]
    mask: Masker = field(default_factory=lambda: Masker(()))


async def client_views(incident_ids: list[int], client_id: int) -> dict[int, ClientView]:
    """incident id -> ClientView for `client_id`. Assets are the client's own when
    the inventory says so now; a deleted asset counts as someone else's."""
    if not incident_ids:
        return {}
    terms: dict[int, set[str]] = {i: set() for i in incident_ids}
    own: dict[int, list[dict]] = {i: [] for i in incident_ids}
    linked = await AffectedAsset.select(AffectedAsset.incident, AffectedAsset.asset_id, AffectedAsset.name,
                                        AffectedAsset.role).where(AffectedAsset.incident.is_in(incident_ids)) \
        .order_by(AffectedAsset.id)
    asset_ids = sorted({a["asset_id"] for a in linked})
    rows = await Asset.select(Asset.id, Asset.client, Asset.name, Asset.mgmt_ip) \
        .where(Asset.id.is_in(asset_ids)) if asset_ids else []
    owners = {r["id"]: (r["client"], r["name"]) for r in rows}
    addresses = {r["id"]: r["mgmt_ip"] for r in rows if r["mgmt_ip"]}
    hidden: dict[int, set[str]] = {i: set() for i in incident_ids}  # no client sees a management address
    for a in linked:
        if a["asset_id"] in addresses:
            hidden[a["incident"]].add(addresses[a["asset_id"]])
        owner, current = owners.get(a["asset_id"], (-1, ""))
        if owner == client_id:
            own[a["incident"]].append({"asset_id": a["asset_id"], "name": current or a["name"], "role": a["role"]})
        elif owner is not None:  # another client's (or gone): never named; ours (None) may be
            terms[a["incident"]].update((a["name"], current))
    others = await AffectedClient.select(AffectedClient.incident, AffectedClient.client_id, AffectedClient.name) \
        .where(AffectedClient.incident.is_in(incident_ids) & (AffectedClient.client_id != client_id))
    other_ids = sorted({o["client_id"] for o in others})
    names = {r["id"]: (r["name"], r["code"]) for r in await Client.select(Client.id, Client.name, Client.code)
             .where(Client.id.is_in(other_ids))} if other_ids else {}
    for o in others:
        terms[o["incident"]].update((o["name"], *names.get(o["client_id"], ())))
    return {i: ClientView(own[i], Masker(terms[i], hidden[i])) for i in incident_ids}
