"""The client card as a call sheet (/clients/{id}): the composed card (inventory
and incidents, the same data as GET /api/v1/clients/{id}/card) plus what a page
adds: live check state of every asset, the client's ports on shared equipment
with their link state, and each service's upstream path."""

from __future__ import annotations

from typing import Awaitable, Callable

from litestar import get
from litestar.params import FromPath
from litestar.response import Template

from accounts.errors import NotFound
from accounts.http import CurrentViewer
from accounts.viewer import Viewer
from cmdb import services as cmdb
from cmdb.tables import Asset
from incidents import admin, power
from incidents.overview import check_states, worst_state
from incidents.services import utcnow
from pages.history import history

#: The card builder (rackcard.composed.build_card), handed in by the composition root:
#: pages do not import rackcard.
CardBuilder = Callable[[Viewer, int], Awaitable[dict]]
#: Upstream paths longer than this are cut (a dependency chain is a few hops in practice).
MAX_PATH = 8


def upstream_paths(asset_ids: list[int], edges: list[dict]) -> dict[int, list[dict]]:
    """For each asset, what it hangs on, nearest first: [{"asset_id", "name", "kind" (power|uplink), "depth"}]."""
    up: dict[int, list[dict]] = {}
    for e in edges:
        up.setdefault(e["asset_id"], []).append(e)
    out: dict[int, list[dict]] = {}
    for start in asset_ids:
        seen = {start}
        frontier = [(start, 0)]
        path: list[dict] = []
        while frontier and len(path) < MAX_PATH:
            node, depth = frontier.pop(0)
            for e in sorted(up.get(node, []), key=lambda e: (e["kind"] != "uplink", e["depends_on_id"])):
                if e["depends_on_id"] in seen:
                    continue
                seen.add(e["depends_on_id"])
                path.append({"asset_id": e["depends_on_id"], "name": e.get("depends_on_name"), "kind": e["kind"],
                             "depth": depth + 1})
                frontier.append((e["depends_on_id"], depth + 1))
        out[start] = path
    return out


async def client_ports(viewer: Viewer, client_id: int) -> list[dict]:
    """The client's ports, on its own equipment or on shared equipment (a media converter chassis, a switch)."""
    ports = (await cmdb.interfaces.list(viewer, {"client_id": str(client_id)}, limit=1000))["results"]
    return sorted(ports, key=lambda p: (p["asset_id"], p["if_index"]))


async def _assets_around(client_id: int, card: dict, ports: list[dict]) -> tuple[dict[int, dict], list[dict]]:
    """The assets the card's services and ports run over, with everything upstream of them.

    The card's own dependency walk starts from the client's assets; a service is
    often carried by shared equipment (our media converter chassis), so its
    path is walked here too. Another client's asset keeps its name hidden."""
    own = {a["id"]: a for a in card["assets"]["items"]}
    carriers = {a for g in card["services_by_site"] for s in g["services"] for a in s["asset_ids"]}
    carriers |= {p["asset_id"] for p in ports}
    extra = sorted(carriers - set(own))
    edges = list(card["dependencies"]["edges"])
    if extra:
        edges += [{"asset_id": e.asset, "depends_on_id": e.depends_on, "kind": e.kind}
                  for e in await cmdb.load_upstream(extra)]
    wanted = (carriers | {e["depends_on_id"] for e in edges} | {e["asset_id"] for e in edges}) - set(own)
    assets = {i: {"id": i, "name": a["name"], "kind": a["kind"], "shared": False} for i, a in own.items()}
    if wanted:
        for a in await Asset.select(Asset.id, Asset.name, Asset.kind, Asset.client).where(Asset.id.is_in(sorted(wanted))):
            other = a["client"] is not None and a["client"] != client_id
            assets[a["id"]] = {"id": a["id"], "name": None if other else a["name"], "kind": a["kind"],
                               "shared": a["client"] != client_id}
    for e in edges:
        e["asset_name"] = assets.get(e["asset_id"], {}).get("name")
        e["depends_on_name"] = assets.get(e["depends_on_id"], {}).get("name")
    return assets, edges


async def _plan_name(viewer: Viewer, plan_id: int | None) -> str | None:
    if plan_id is None:
        return None
    try:
        return (await admin.get_plan(viewer, plan_id))["name"]
    except NotFound:
        return None


@get("/clients/{client_id:int}", name="client_card")
async def client_card(viewer: CurrentViewer, client_id: FromPath[int], build_card: CardBuilder) -> Template:
    card = await build_card(viewer, client_id)
    ports = await client_ports(viewer, client_id)
    assets, edges = await _assets_around(client_id, card, ports)
    checks = await check_states(viewer, sorted(assets))
    for p in ports:
        p["asset"] = assets.get(p["asset_id"], {})
        p["link"] = next((c for c in checks.get(p["asset_id"], []) if c["key"] == f"link:{p['if_index']}"), None)
    return Template("pages/card.html", context={
        "card": card,
        "client": card["client"],
        "ports": ports,
        "assets": assets,
        "asset_state": {i: worst_state(c) for i, c in checks.items()},
        "paths": upstream_paths(sorted(assets), edges),
        "plan_name": await _plan_name(viewer, card["client"].get("sla_plan_id")),
        "power_ok": await power.switchable([a["id"] for a in card["assets"]["items"]]),
        "now": utcnow(),
        "history": await history(viewer, "client", client_id),
        "nav": "search",
    })


page_routes: list = [client_card]
