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

from pages.svg import classes, esc, shorten, state_class, svg_open, text

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
    pos = lay.positions
    # Hot loops (a site may draw a thousand nodes and edges): plain f-strings,
    # escaping only what comes from data; numbers need none.
    out = [svg_open(lay.width, lay.height, class_="topology", label=words.title), '<g class="topo-edges">']
    edge_class = {k: esc(f"topo-edge edge-{k}") for k in {ln.kind for ln in links}}
    layer_of = {node: i for i, layer in enumerate(lay.layers) for node in layer}
    half = NODE_W / 2
    # An edge that skips a layer would vanish behind the boxes it passes: it is
    # drawn over the nodes instead (lighter, see .topo-edges-over), so it is seen to go on.
    under, over = [], []
    for ln in links:
        if ln.source not in pos or ln.target not in pos:
            continue
        sx, y1 = pos[ln.source]
        tx, ty = pos[ln.target]
        x1, x2, y2 = sx + half, tx + half, ty + NODE_H  # from the dependent's top to the bottom of what it depends on
        bend = max(20.0, (y1 - y2) / 2)
        path = (f'<path d="M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 - bend:.0f} {x2:.0f},{y2 + bend:.0f} {x2:.0f},{y2:.0f}" '
                f'class="{edge_class[ln.kind]}"/>')
        (over if layer_of[ln.source] - layer_of[ln.target] > 1 else under).append(path)
    out += under
    out.append('</g><g class="topo-nodes">')
    mark_words = {m: esc(words.marks.get(m, m)) for m in MARKS}
    for n in nodes:
        x, y = pos[n.id]
        marks = [m for m in MARKS if m in n.marks]
        label = esc(shorten(n.label, LABEL_CHARS))
        group = (f'<g class="{esc(classes("topo-node", f"kind-{n.kind}", state_class(n.state), *marks))}" data-id="{esc(n.id)}">'
                 f"<title>{esc(n.tooltip or n.label)}</title>"
                 f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="6" class="topo-box"/>'
                 f'<text x="{x + 8:.0f}" y="{y + 19:.0f}" class="topo-label">{label}</text>')
        if n.detail:
            group += f'<text x="{x + 8:.0f}" y="{y + 37:.0f}" class="topo-detail">{esc(shorten(n.detail, LABEL_CHARS + 6))}</text>'
        if marks:
            group += f'<text x="{x + NODE_W:.0f}" y="{y - 5:.0f}" class="topo-mark" text-anchor="end">{mark_words[marks[0]]}</text>'
        group += "</g>"
        out.append(f'<a href="{esc(n.url)}" aria-label="{esc(n.label)}">{group}</a>' if n.url else group)
    out.append('</g><g class="topo-edges-over">')
    out += over
    out.append("</g></svg>")
    return "".join(out)
