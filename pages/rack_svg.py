"""A rack's front elevation as SVG, pure: U numbers up the side (U1 at the
bottom, as printed on the rails), each asset drawn at its U and height,
coloured by its state (CSS class), linking to its page, and every free run
of units marked so an engineer sees at a glance where a new box can go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

from cmdb.rackspace import free_runs, occupied
from pages.svg import attrs, classes, esc, link, shorten, state_class, svg_open, text

U_PX = 22
RAIL = 34
BODY = 250
TOP = 30
LABEL_CHARS = 26


@dataclass(frozen=True)
class RackItem:
    id: Hashable
    label: str
    position_u: int
    height_u: int = 1
    state: str = "unknown"
    url: str | None = None
    detail: str = ""
    tooltip: str = ""
    marks: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RackText:
    """Translated words: `free` is formatted with {n} (units) — e.g. "free: {n} U"."""

    title: str
    free: str = "free {n} U"


def render(height_u: int, items: Sequence[RackItem], words: RackText) -> str:
    width = RAIL * 2 + BODY
    height = TOP + height_u * U_PX + 12

    def y_of(top_unit: int) -> float:
        return TOP + (height_u - top_unit) * U_PX

    out = [svg_open(width, height, class_="rack", label=words.title), text(width / 2, 20, words.title, class_="rack-title", anchor="middle")]
    out.append(f'<rect{attrs(x=RAIL, y=TOP, width=BODY, height=height_u * U_PX, class_="rack-frame")}/>')
    lines, numbers = [], []
    for u in range(1, height_u + 1):
        y = y_of(u)
        lines.append(f'<line x1="{RAIL}" x2="{RAIL + BODY}" y1="{y:.0f}" y2="{y:.0f}" class="rack-unit-line"/>')
        numbers.append(f'<text x="{RAIL - 6}" y="{y + U_PX - 6:.0f}" class="rack-u" text-anchor="end">{u}</text>'
                       f'<text x="{RAIL + BODY + 6}" y="{y + U_PX - 6:.0f}" class="rack-u" text-anchor="start">{u}</text>')
    out += lines + numbers
    taken = occupied(((i.position_u, i.height_u) for i in items), height_u)
    for low, high in free_runs(height_u, taken):
        n = high - low + 1
        y = y_of(high)
        out.append(f'<g class="rack-free" data-low="{low}" data-high="{high}">'
                   f'<rect{attrs(x=RAIL + 2, y=y + 2, width=BODY - 4, height=n * U_PX - 4, rx=3, class_="rack-free-box")}/>'
                   + text(RAIL + BODY / 2, y + n * U_PX / 2 + 5, words.free.format(n=n, low=low, high=high),
                          class_="rack-free-label", anchor="middle")
                   + "</g>")
    for item in sorted(items, key=lambda i: i.position_u):
        top_unit = min(item.position_u + max(1, item.height_u) - 1, height_u)
        if item.position_u < 1 or item.position_u > height_u:
            continue  # not drawable (bad data): the page lists it under the drawing
        rows = top_unit - item.position_u + 1
        y = y_of(top_unit)
        marks = sorted(item.marks)
        body = [f'<g{attrs(class_=classes("rack-asset", state_class(item.state), *marks), data_id=item.id, data_u=item.position_u)}>',
                f"<title>{esc(item.tooltip or item.label)}</title>",
                f'<rect{attrs(x=RAIL + 3, y=y + 2, width=BODY - 6, height=rows * U_PX - 4, rx=3, class_="rack-asset-box")}/>',
                text(RAIL + 10, y + 16, shorten(item.label, LABEL_CHARS), class_="rack-asset-label")]
        if item.detail and rows >= 2:
            body.append(text(RAIL + 10, y + 34, shorten(item.detail, LABEL_CHARS + 8), class_="rack-asset-detail"))
        body.append("</g>")
        out.append(link(item.url, "".join(body), label=item.label))
    out.append("</svg>")
    return "".join(out)
