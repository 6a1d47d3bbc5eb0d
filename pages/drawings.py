"""From the live views (incidents.live) to the SVG drawings of the pages.

Templates call these with the words already translated (the `_()` of the
template), so this module needs no language machinery:

    {{ draw_topology(topology, {"title": _("..."), "impacted": _("impacted"), ...}) }}

Each returns Markup (the SVG is built escaped by pages.svg).
"""

from __future__ import annotations

import datetime as dt
from typing import Mapping

from markupsafe import Markup

from pages import rack_svg, svg, topology_svg


def asset_url(asset_id: int) -> str:
    return f"/assets/{asset_id}"


def client_url(client_id: int) -> str:
    return f"/clients/{client_id}"


def _plain(words: Mapping[str, str]) -> dict[str, str]:
    """Words from a template arrive as Markup (placeholders already escaped):
    back to plain text, since pages.svg escapes everything it writes."""
    return {k: v.unescape() if isinstance(v, Markup) else str(v) for k, v in words.items()}


def draw_topology(topology: dict, words: Mapping[str, str]) -> Markup:
    words = _plain(words)
    names = {n["key"]: n["name"] for n in topology["nodes"] if n["type"] == "asset"}
    nodes = []
    for n in topology["nodes"]:
        state_word = words.get(n["state"], n["state"])
        if n["type"] == "port":
            owner = names.get(f"asset-{n['asset_id']}", "")
            nodes.append(topology_svg.Node(
                n["key"], n["client_name"] or n["name"], "port", n["state"],
                client_url(n["client_id"]) if n["client_id"] else asset_url(n["asset_id"]),
                detail=f"{owner} · {n['name'] or n['if_index']}", marks=frozenset(n["marks"]),
                tooltip=f"{n['client_name']} — {owner} {n['name']} ({state_word})"))
            continue
        detail = (f"↗ {n['site_name']}" if n.get("outside")
                  else n.get("client_name") or n.get("mgmt_ip") or words.get(f"kind:{n['kind']}", n["kind"]))
        nodes.append(topology_svg.Node(
            n["key"], n["name"], n["kind"], n["state"], asset_url(n["asset_id"]), detail=detail or "",
            marks=frozenset(n["marks"]), tooltip=f"{n['name']} ({state_word})"))
    links = [topology_svg.Link(e["from"], e["to"], e["kind"]) for e in topology["edges"]]
    text = topology_svg.TopologyText(
        title=words.get("title", ""), empty=words.get("empty", ""),
        marks={m: words.get(m, m) for m in topology_svg.MARKS},
        kinds={k: words.get(k, k) for k in ("power", "uplink")},
    )
    return Markup(topology_svg.render(nodes, links, text))


def draw_rack(rack: dict, words: Mapping[str, str]) -> Markup:
    words = _plain(words)
    items = [
        rack_svg.RackItem(
            a["id"], a["name"], a["position_u"], a["height_u"], a["state"], asset_url(a["id"]),
            detail=" ".join(x for x in (a["manufacturer"], a["model"], a["client_name"] and f"· {a['client_name']}") if x),
            tooltip=f"{a['name']} U{a['position_u']}" + (f"–U{a['position_u'] + a['height_u'] - 1}" if a["height_u"] > 1 else "")
            + f" ({words.get(a['state'], a['state'])})",
            marks=frozenset(a["marks"]))
        for a in rack["assets"]
    ]
    text = rack_svg.RackText(title=words.get("title", rack["name"]), free=words.get("free", "free {n} U"))
    return Markup(rack_svg.render(rack["height_u"], items, text))


def draw_chart(points: list[dict], words: Mapping[str, str], *, start: dt.datetime | None = None,
               end: dt.datetime | None = None) -> Markup:
    words = _plain(words)
    text = svg.ChartText(title=words.get("title", ""), unit=words.get("unit", ""), empty=words.get("empty", ""),
                         minimum=words.get("min", "min"), maximum=words.get("max", "max"), gap=words.get("gap", ""))
    return Markup(svg.chart([(p["at"], p["value"]) for p in points], text, start=start, end=end))


#: What the templates may call.
HELPERS = {"draw_topology": draw_topology, "draw_rack": draw_rack, "draw_chart": draw_chart}
