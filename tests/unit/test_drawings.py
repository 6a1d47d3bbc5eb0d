"""The server-made drawings (pages.svg, pages.topology_svg, pages.rack_svg)
and the free-U arithmetic (cmdb.rackspace), pure: no database, no browser."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from cmdb import rackspace
from pages import rack_svg, svg, topology_svg
from pages.topology_svg import Link, Node

NS = {"s": "http://www.w3.org/2000/svg"}
T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)


def parsed(doc: str) -> ET.Element:
    return ET.fromstring(doc)  # well-formed XML or this raises


def no_inline_colour(doc: str) -> None:
    assert not re.search(r'\b(fill|stroke|style|color)=', doc), "colours belong in CSS classes (dark mode)"


def texts(doc: str) -> list[str]:
    return ["".join(t.itertext()) for t in parsed(doc).iter("{http://www.w3.org/2000/svg}text")]


# ---------------------------------------------------------------- the sample graph


def test_chart_shows_title_last_value_min_max_and_time_span():
    points = [(T0 + dt.timedelta(minutes=i), 220.0 + i) for i in range(11)]
    doc = svg.chart(points, svg.ChartText(title="Input voltage", unit="V"))
    no_inline_colour(doc)
    words = texts(doc)
    assert words[0] == "Input voltage"
    assert "230 V" in words  # the last reading
    assert "230" in words and "220" in words  # max and min on the value axis
    assert "12:00" in words and "12:10" in words  # the time span
    root = parsed(doc)
    assert root.get("class") == "chart" and root.get("role") == "img"
    lines = root.findall(".//s:polyline", NS)
    assert len(lines) == 1 and len(lines[0].get("points").split()) == 11


def test_chart_leaves_a_gap_where_samples_are_missing():
    before = [(T0 + dt.timedelta(minutes=i), 50.0) for i in range(5)]
    after = [(T0 + dt.timedelta(minutes=60 + i), 40.0) for i in range(5)]
    lonely = [(T0 + dt.timedelta(minutes=200), 30.0)]
    doc = svg.chart(before + after + lonely, svg.ChartText(title="Battery", unit="min", gap="no samples"))
    root = parsed(doc)
    assert len(root.findall(".//s:polyline", NS)) == 2  # not joined across the hole
    assert len(root.findall(".//s:circle", NS)) == 1  # a single sample is still shown
    gaps = [r for r in root.findall(".//s:rect", NS) if r.get("class") == "chart-gap"]
    assert len(gaps) == 2 and gaps[0].find("s:title", NS).text == "no samples"


def test_chart_without_samples_says_so():
    doc = svg.chart([], svg.ChartText(title="Load", unit="%", empty="нет данных"))
    assert "нет данных" in texts(doc)
    assert parsed(doc).find(".//s:polyline", NS) is None


def test_chart_of_a_flat_series_and_negative_values():
    flat = [(T0 + dt.timedelta(minutes=i), -7.35) for i in range(3)]
    doc = svg.chart(flat, svg.ChartText(title="Rx power", unit="dBm"))
    assert "-7.35 dBm" in texts(doc)
    ys = {float(p.split(",")[1]) for p in parsed(doc).find(".//s:polyline", NS).get("points").split()}
    assert len(ys) == 1  # drawn in the middle, not divided by zero


def test_chart_time_axis_can_be_fixed_and_text_is_escaped():
    points = [(T0 + dt.timedelta(hours=1), 1.0), (T0 + dt.timedelta(hours=2), 2.0)]
    doc = svg.chart(points, svg.ChartText(title="<load> & co"), start=T0, end=T0 + dt.timedelta(days=2))
    words = texts(doc)
    assert words[0] == "<load> & co"
    assert "29.11 12:00" in words and "01.12 12:00" in words  # a span over a day shows dates


def test_numbers_read_like_a_person_writes_them():
    assert [svg.number(v) for v in (230.0, 48.5, 0.12, -7.351, 0.0, 1234.56)] == ["230", "48.5", "0.12", "-7.35", "0", "1235"]


# ---------------------------------------------------------------- site topology


def _site():
    nodes = [
        Node(1, "ups-1", "ups", "critical", "/assets/1"),
        Node(2, "rtr-1", "router", "ok", "/assets/2"),
        Node(3, "sw-1", "switch", "ok", "/assets/3"),
        Node(4, "mc-1", "media_converter", "warning", "/assets/4", marks=frozenset({"impacted"})),
        Node(5, "mc-2", "media_converter", "ok", "/assets/5", marks=frozenset({"at-risk"})),
        Node("p4.1", "ACME port 2", "port", "ok", "/clients/9"),
        Node(7, "orphan", "server"),
    ]
    links = [Link(2, 1, "power"), Link(3, 1, "power"), Link(3, 2), Link(4, 3), Link(5, 3), Link("p4.1", 4)]
    return nodes, links


def test_topology_layers_follow_power_and_uplinks():
    nodes, links = _site()
    assert topology_svg.layers(nodes, links) == [[1], [2], [3], [4, 5, 7], ["p4.1"]]


def test_a_node_sits_below_what_it_depends_on_whatever_its_kind():
    # A UPS fed through a PDU behind a switch still hangs below the switch.
    nodes = [Node(1, "sw", "switch"), Node(2, "pdu", "pdu"), Node(3, "ups", "ups")]
    links = [Link(2, 1, "uplink"), Link(3, 2, "power")]
    assert topology_svg.layers(nodes, links) == [[1], [2], [3]]


def test_topology_tolerates_a_cycle_and_a_deep_chain():
    nodes = [Node(i, f"n{i}", "switch") for i in range(3000)]
    links = [Link(i + 1, i) for i in range(2999)] + [Link(0, 2999)]
    grid = topology_svg.layers(nodes, links)
    assert sum(len(layer) for layer in grid) == 3000


def test_barycentre_ordering_puts_children_under_their_parents():
    nodes = [Node("a", "a", "switch"), Node("b", "b", "switch"),
             Node("x", "x", "media_converter"), Node("y", "y", "media_converter")]
    # x hangs on b, y on a: the lower layer is reordered y, x to avoid a crossing.
    lay = topology_svg.layout(nodes, [Link("x", "b"), Link("y", "a")])
    assert lay.layers == [["a", "b"], ["y", "x"]]
    assert lay.positions["y"][0] < lay.positions["x"][0]


def test_topology_svg_colours_by_state_class_marks_and_links_every_node():
    nodes, links = _site()
    words = topology_svg.TopologyText(title="Khimki", marks={"impacted": "затронут", "at-risk": "под угрозой"},
                                      kinds={"power": "питание", "uplink": "аплинк"})
    doc = topology_svg.render(nodes, links, words)
    no_inline_colour(doc)
    root = parsed(doc)
    groups = {g.get("data-id"): g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("data-id")}
    assert "state-critical" in groups["1"].get("class").split()
    assert {"state-warning", "impacted"} <= set(groups["4"].get("class").split())
    assert "at-risk" in groups["5"].get("class").split()
    assert "state-unknown" in groups["7"].get("class").split()
    hrefs = [a.get("href") for a in root.iter("{http://www.w3.org/2000/svg}a")]
    assert sorted(hrefs) == sorted(["/assets/1", "/assets/2", "/assets/3", "/assets/4", "/assets/5", "/clients/9"])
    assert "затронут" in texts(doc) and "под угрозой" in texts(doc)
    edges = root.findall(".//s:path", NS)
    assert len(edges) == len(links) and {"edge-power", "edge-uplink"} <= {c for e in edges for c in e.get("class").split()}


def test_a_wide_layer_wraps_into_rows():
    nodes = [Node(0, "sw", "switch")] + [Node(i, f"mc-{i:03}", "media_converter") for i in range(1, 26)]
    lay = topology_svg.layout(nodes, [Link(i, 0) for i in range(1, 26)], per_row=10)
    rows = {y for node, (x, y) in lay.positions.items() if node != 0}
    assert len(rows) == 3
    assert lay.width < 11 * (topology_svg.NODE_W + topology_svg.GAP_X) + 2 * topology_svg.MARGIN


def test_empty_topology():
    doc = topology_svg.render([], [], topology_svg.TopologyText(title="x", empty="пусто"))
    assert texts(doc) == ["пусто"]


# ---------------------------------------------------------------- rack space and elevation


def test_free_runs_and_fitting_positions():
    taken = rackspace.occupied([(1, 2), (5, 1), (None, 1), (10, 5)], height_u=12)
    assert taken == {1, 2, 5, 10, 11, 12}
    assert rackspace.free_runs(12, taken) == [(3, 4), (6, 9)]
    assert rackspace.fitting_positions(12, taken, 2) == [3, 6, 7, 8]
    assert rackspace.fitting_positions(12, taken, 5) == []
    assert rackspace.free_runs(3, set()) == [(1, 3)]


def test_rack_elevation_draws_assets_at_their_u_and_the_free_units():
    items = [
        rack_svg.RackItem(1, "sw-core-1", 40, 1, "ok", "/assets/1"),
        rack_svg.RackItem(2, "srv-db-1", 10, 2, "critical", "/assets/2", detail="Dell R740"),
    ]
    doc = rack_svg.render(42, items, rack_svg.RackText(title="A01", free="свободно {n} U"))
    no_inline_colour(doc)
    root = parsed(doc)
    assets = {g.get("data-id"): g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("data-id")}
    assert assets["2"].get("data-u") == "10" and "state-critical" in assets["2"].get("class")
    box1, box2 = (assets[k].find("s:rect", NS) for k in ("1", "2"))
    # U1 is at the bottom: U40 is drawn above U10, and a 2 U box is twice as tall.
    assert float(box1.get("y")) < float(box2.get("y"))
    assert float(box2.get("height")) + 4 == 2 * (float(box1.get("height")) + 4)
    free = [(g.get("data-low"), g.get("data-high")) for g in root.iter("{http://www.w3.org/2000/svg}g")
            if g.get("class") == "rack-free"]
    assert free == [("1", "9"), ("12", "39"), ("41", "42")]
    words = texts(doc)
    assert "свободно 28 U" in words and "sw-core-1" in words and "Dell R740" in words
    assert words.count("42") == 2 and words.count("1") == 2  # U numbers on both rails
    assert [a.get("href") for a in root.iter("{http://www.w3.org/2000/svg}a")] == ["/assets/2", "/assets/1"]


def test_rack_elevation_skips_a_position_outside_the_rack():
    doc = rack_svg.render(4, [rack_svg.RackItem(1, "ghost", 9, 1)], rack_svg.RackText(title="B"))
    assert "ghost" not in texts(doc)


def test_an_edge_that_skips_a_layer_is_drawn_over_the_nodes():
    nodes = [Node(1, "ups", "ups"), Node(2, "rtr", "router"), Node(3, "mc", "media_converter")]
    doc = topology_svg.render(nodes, [Link(2, 1, "power"), Link(3, 2), Link(3, 1, "power")],
                              topology_svg.TopologyText(title="t"))
    groups = {g.get("class"): g for g in parsed(doc).iter("{http://www.w3.org/2000/svg}g")
              if g.get("class", "").startswith("topo-edges")}
    assert len(groups["topo-edges"].findall("s:path", NS)) == 2
    assert len(groups["topo-edges-over"].findall("s:path", NS)) == 1  # mc -> ups passes the router's layer
