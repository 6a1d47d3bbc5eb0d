"""pages.charts: well-formed SVG, escaped labels, sizes that follow the values."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pages import charts

NS = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_bars_scale_to_the_largest_value_and_escape_labels():
    svg = charts.bars([("<script>x</script>", 10), ("power", 5), ("none", None)], title="Mix & match", unit=" %")
    root = _parse(svg)  # well-formed: the label came out escaped
    assert root.find(f"{NS}title").text == "Mix & match"
    widths = [float(r.get("width")) for r in root.iter(f"{NS}rect")]
    assert widths[0] == 2 * widths[1] and widths[2] == 0
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "—" in svg  # a missing value is shown as a dash, not as 0


def test_lines_draw_each_series_with_its_total():
    svg = charts.lines(["d1", "d2", "d3"], {"incoming": [1, 4, 2], "resolved": [0, 3, 3]}, title="In vs out")
    root = _parse(svg)
    polylines = list(root.iter(f"{NS}polyline"))
    assert len(polylines) == 2 and len(polylines[0].get("points").split()) == 3
    assert "incoming (7)" in svg and "resolved (6)" in svg
    assert charts.lines([], {}, title="empty").startswith("<svg")


def test_share_splits_the_width_by_the_parts():
    root = _parse(charts.share([("proactive", 3), ("client first", 1)], title="Proactive", width=400))
    bars = [r for r in root.iter(f"{NS}rect") if r.get("height") == "24"]
    assert [float(b.get("width")) for b in bars] == [300.0, 100.0]
