"""A site's dependency graph as SVG, laid out on the server, pure.

Layers run top to bottom the way power and traffic flow at a site: power
sources, then uplinks (routers), switches, media converters and servers, then
the client ports hanging off them. A node sits on the layer of its kind, or
lower when something it depends on sits on that layer or below (so an edge
always points up). Within a layer nodes are ordered by the mean position of
what they hang on (a few barycentre sweeps, the classic way to cut crossings),
and a layer wider than `per_row` wraps onto several rows so a 500-asset site
stays readable on a wall screen.

State and marks are CSS classes only (`state-critical`, `at-risk`,
`impacted`, `root`); every node links to its page. Labels come translated
from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Iterable, Sequence

from pages.svg import attrs, classes, esc, link, shorten, state_class, svg_open, text

#: The layer a kind starts on; anything unknown sits with the servers.
KIND_LAYER = {"ups": 0, "pdu": 0, "router": 1, "switch": 2, "media_converter": 3, "server": 3, "other": 3, "port": 4}
DEFAULT_LAYER = 3
MARKS = ("root", "impacted", "at-risk")

NODE_W, NODE_H = 168, 46
GAP_X, GAP_Y, ROW_GAP = 18, 64, 26
MARGIN = 16
LABEL_CHARS = 19


@dataclass(frozen=True)
class Node:
    id: Hashable
    label: str
    kind: str
    state: str = "unknown"
    url: str | None = None
    detail: str = ""  # second line: kind, IP, client ...
    marks: frozenset[str] = frozenset()  # root | impacted | at-risk
    tooltip: str = ""


@dataclass(frozen=True)
class Link:
    """`source` depends on `target` (power or uplink); drawn from below to above."""

    source: Hashable
    target: Hashable
    kind: str = "uplink"


@dataclass
class Layout:
    positions: dict[Hashable, tuple[float, float]] = field(default_factory=dict)  # top-left corner
    layers: list[list[Hashable]] = field(default_factory=list)
    width: float = 0
    height: float = 0


def layers(nodes: Sequence[Node], links: Iterable[Link]) -> list[list[Hashable]]:
    """Node ids per layer, top first (empty layers dropped)."""
    ids = {n.id for n in nodes}
    up: dict[Hashable, list[Hashable]] = {n.id: [] for n in nodes}
    for ln in links:
        if ln.source in ids and ln.target in ids and ln.source != ln.target:
            up[ln.source].append(ln.target)
    rank: dict[Hashable, int] = {}
    kind_of = {n.id: n.kind for n in nodes}
    for n in nodes:
        if n.id not in rank:
            _place(n.id, up, kind_of, rank)
    by_rank: dict[int, list[Hashable]] = {}
    for n in nodes:
        by_rank.setdefault(rank[n.id], []).append(n.id)
    return [by_rank[r] for r in sorted(by_rank)]


def _place(start: Hashable, up: dict, kind_of: dict, rank: dict) -> None:
    """Rank `start` and everything above it: the layer of its kind, or one
    below the lowest thing it depends on. Depth-first without recursion (a
    long chain must not hit Python's stack limit); an edge back into the
    current trail (a cycle, which the CMDB refuses anyway) is ignored."""
    stack: list[tuple[Hashable, int]] = [(start, 0)]
    trail = {start}
    while stack:
        node, i = stack[-1]
        parents = up[node]
        if i < len(parents):
            stack[-1] = (node, i + 1)
            parent = parents[i]
            if parent not in rank and parent not in trail:
                trail.add(parent)
                stack.append((parent, 0))
            continue
        level = KIND_LAYER.get(kind_of[node], DEFAULT_LAYER)
        for parent in parents:
            if parent in rank:
                level = max(level, rank[parent] + 1)
        rank[node] = level
        trail.discard(node)
        stack.pop()


def _order(grid: list[list[Hashable]], up: dict, down: dict, labels: dict, sweeps: int = 2) -> None:
    """Barycentre ordering in place: each layer sorted by the mean index of its
    neighbours on the layer above (then below), ties by label."""
    for layer in grid:
        layer.sort(key=lambda i: labels[i])

    def sweep(rows: list[list[Hashable]], neighbours: dict) -> None:
        index: dict[Hashable, float] = {}
        for row in rows:
            current = {node: k for k, node in enumerate(row)}
            for node in row:
                near = [index[m] for m in neighbours.get(node, ()) if m in index]
                current[node] = sum(near) / len(near) if near else current[node]
            row.sort(key=lambda node: (current[node], labels[node]))
            index.update({node: k / max(1, len(row) - 1) for k, node in enumerate(row)})

    for _ in range(sweeps):
        sweep(grid, up)
        sweep(grid[::-1], down)


def layout(nodes: Sequence[Node], links: Sequence[Link], *, per_row: int = 10) -> Layout:
    grid = layers(nodes, links)
    up: dict[Hashable, list[Hashable]] = {}
    down: dict[Hashable, list[Hashable]] = {}
    for ln in links:
        up.setdefault(ln.source, []).append(ln.target)
        down.setdefault(ln.target, []).append(ln.source)
    _order(grid, up, down, {n.id: (n.label, str(n.id)) for n in nodes})
    out = Layout(layers=grid)
    widest = max((min(len(layer), per_row) for layer in grid), default=0)
    out.width = MARGIN * 2 + widest * NODE_W + max(0, widest - 1) * GAP_X
    y = MARGIN
    for layer in grid:
        for start in range(0, len(layer), per_row):
            row = layer[start:start + per_row]
            row_w = len(row) * NODE_W + (len(row) - 1) * GAP_X
            x = (out.width - row_w) / 2
            for node in row:
                out.positions[node] = (x, y)
                x += NODE_W + GAP_X
            y += NODE_H + ROW_GAP
        y += GAP_Y - ROW_GAP
    out.height = max(y - GAP_Y + ROW_GAP + MARGIN, MARGIN * 2 + NODE_H) if grid else MARGIN * 2
    return out


@dataclass(frozen=True)
class TopologyText:
    """Translated words of the drawing."""

    title: str
    empty: str = "nothing to draw"
    marks: dict[str, str] = field(default_factory=dict)  # root/impacted/at-risk -> short word on the node
    kinds: dict[str, str] = field(default_factory=dict)  # power/uplink -> edge tooltip


def render(nodes: Sequence[Node], links: Sequence[Link], words: TopologyText, *, per_row: int = 10) -> str:
    """The whole drawing: edges first (under the nodes), then the nodes."""
    if not nodes:
        out = [svg_open(360, 60, class_="topology", label=words.title),
               text(180, 35, words.empty, class_="topo-empty", anchor="middle"), "</svg>"]
        return "".join(out)
    lay = layout(nodes, links, per_row=per_row)
    out = [svg_open(lay.width, lay.height, class_="topology", label=words.title), '<g class="topo-edges">']
    for ln in links:
        if ln.source not in lay.positions or ln.target not in lay.positions:
            continue
        sx, sy = lay.positions[ln.source]
        tx, ty = lay.positions[ln.target]
        x1, y1 = sx + NODE_W / 2, sy  # top of the dependent
        x2, y2 = tx + NODE_W / 2, ty + NODE_H  # bottom of what it depends on
        bend = max(20.0, (y1 - y2) / 2)
        d = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 - bend:.1f} {x2:.1f},{y2 + bend:.1f} {x2:.1f},{y2:.1f}"
        title = words.kinds.get(ln.kind, ln.kind)
        out.append(f'<path{attrs(d=d, class_=f"topo-edge edge-{ln.kind}")}><title>{esc(title)}</title></path>')
    out.append('</g><g class="topo-nodes">')
    for n in nodes:
        x, y = lay.positions[n.id]
        marks = [m for m in MARKS if m in n.marks]
        group = [f'<g{attrs(class_=classes("topo-node", f"kind-{n.kind}", state_class(n.state), *marks), data_id=n.id)}>']
        group.append(f"<title>{esc(n.tooltip or n.label)}</title>")
        group.append(f'<rect{attrs(x=f"{x:.1f}", y=f"{y:.1f}", width=NODE_W, height=NODE_H, rx=6, class_="topo-box")}/>')
        group.append(text(x + 8, y + 19, shorten(n.label, LABEL_CHARS), class_="topo-label"))
        if n.detail:
            group.append(text(x + 8, y + 37, shorten(n.detail, LABEL_CHARS + 6), class_="topo-detail"))
        if marks:
            word = words.marks.get(marks[0], marks[0])
            group.append(text(x + NODE_W, y - 5, word, class_="topo-mark", anchor="end"))
        group.append("</g>")
        out.append(link(n.url, "".join(group), label=n.label))
    out.append("</g></svg>")
    return "".join(out)
