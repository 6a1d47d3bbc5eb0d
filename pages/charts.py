"""Server-made SVG charts for the reports page — pure (standard library only):
no chart library, no script, printable, and every label escaped.

    bars([(label, value), ...], title=...)            horizontal bars with their values
    lines(x_labels, {"name": [values...]}, title=...) lines over time with a legend
    share(parts=[(label, value), ...], title=...)     one 100 % bar split into parts

Colours are CSS classes (`series-0`, `series-1` ...) so the page's stylesheet
(and print) decides them; a fallback fill keeps the SVG readable alone.
"""

from __future__ import annotations

from html import escape
from typing import Iterable, Mapping, Sequence

PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#6b7280")


def _svg(width: int, height: int, title: str, body: str) -> str:
    t = escape(title)
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="100%" role="img" aria-label="{t}"><title>{t}</title>{body}</svg>')


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"


def bars(items: Sequence[tuple[str, float | None]], *, title: str, unit: str = "", width: int = 480,
         row: int = 22) -> str:
    """Horizontal bars, one per item, the value written after each."""
    label_w, pad = 150, 6
    height = max(len(items), 1) * row + pad * 2
    top = max((v or 0 for _, v in items), default=0) or 1
    scale = (width - label_w - 70) / top
    parts = []
    for i, (label, value) in enumerate(items):
        y = pad + i * row
        w = max((value or 0) * scale, 0)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + row * 0.65:.1f}" text-anchor="end" class="chart-label">'
            f"{escape(str(label))}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" class="series-0" '
            f'fill="{PALETTE[0]}"><title>{escape(str(label))}: {_number(value)}{escape(unit)}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + row * 0.65:.1f}" class="chart-value">'
            f"{_number(value)}{escape(unit)}</text>")
    return _svg(width, height, title, "".join(parts))


def lines(x_labels: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, width: int = 640,
          height: int = 220) -> str:
    """One polyline per series over the x labels, with a y axis from 0 and a legend."""
    left, right, top_pad, bottom = 40, 10, 24, 28
    n = max(len(x_labels), 1)
    top = max((max(v, default=0) for v in series.values()), default=0) or 1
    plot_w, plot_h = width - left - right, height - top_pad - bottom

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        return x, top_pad + plot_h - plot_h * v / top

    parts = [f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" y2="{top_pad + plot_h}" '
             'class="chart-axis" stroke="#9ca3af"/>',
             f'<text x="{left - 4}" y="{top_pad + 4}" text-anchor="end" class="chart-value">{_number(top)}</text>',
             f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end" class="chart-value">0</text>']
    step = max(1, n // 8)
    for i in range(0, len(x_labels), step):
        x, _ = xy(i, 0)
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" class="chart-label">'
                     f"{escape(str(x_labels[i]))}</text>")
    for k, (name, values) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(values)))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2" '
                     f'class="series-{k}"><title>{escape(name)}</title></polyline>')
        parts.append(f'<rect x="{left + k * 140}" y="4" width="12" height="12" fill="{colour}" class="series-{k}"/>'
                     f'<text x="{left + k * 140 + 16}" y="14" class="chart-label">{escape(name)} '
                     f"({_number(sum(values))})</text>")
    return _svg(width, height, title, "".join(parts))


def share(parts: Iterable[tuple[str, float]], *, title: str, width: int = 480) -> str:
    """One bar split into its parts (each labelled with its share of the whole)."""
    items = [(label, value or 0) for label, value in parts]
    total = sum(v for _, v in items) or 1
    x = 0.0
    body = []
    for k, (label, value) in enumerate(items):
        w = width * value / total
        colour = PALETTE[k % len(PALETTE)]
        body.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="24" fill="{colour}" class="series-{k}">'
                    f"<title>{escape(label)}: {value / total * 100:.1f} %</title></rect>")
        body.append(f'<rect x="0" y="{34 + k * 18}" width="10" height="10" fill="{colour}" class="series-{k}"/>'
                    f'<text x="14" y="{43 + k * 18}" class="chart-label">{escape(label)} '
                    f"{value / total * 100:.1f} %</text>")
        x += w
    height = 40 + len(items) * 18
    return _svg(width, height, title, "".join(body))
