"""Server-made SVG, pure (standard library only): shared primitives and the
sample graph of the asset page (battery minutes, input voltage, load, optical
power ...).

Nothing here colours anything: every element carries CSS classes
(`chart-line`, `state-critical` ...) and static/rackcard.css paints them, so
dark mode and a wall screen's larger text need no change here. Every text
that a person reads comes in from the caller already translated; this module
only places it.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

STATES = ("ok", "warning", "critical", "unknown")


_SPECIAL = frozenset('&<>"\'')


def esc(value: object) -> str:
    """Text or attribute value, escaped for XML (most names need nothing: checked first)."""
    text_ = str(value)
    return text_ if _SPECIAL.isdisjoint(text_) else html.escape(text_, quote=True)


def attrs(**values: object) -> str:
    """` name="value" ...` for the values that are not None; `class_` -> class, `aria_label` -> aria-label."""
    out = []
    for name, value in values.items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-")
        out.append(f' {name}="{esc(value)}"')
    return "".join(out)


def classes(*names: str | None) -> str:
    return " ".join(n for n in names if n)


def state_class(state: str | None) -> str:
    return f"state-{state if state in STATES else 'unknown'}"


def svg_open(width: float, height: float, *, class_: str, label: str) -> str:
    """The root element: scales to its container (viewBox), labelled for screen readers."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg"{attrs(class_=class_, viewBox=f"0 0 {_n(width)} {_n(height)}")}'
            f'{attrs(width=_n(width), height=_n(height), role="img", aria_label=label)}><title>{esc(label)}</title>')


def text(x: float, y: float, content: str, *, class_: str, anchor: str | None = None) -> str:
    return f'<text{attrs(x=_n(x), y=_n(y), class_=class_, text_anchor=anchor)}>{esc(content)}</text>'


def link(url: str | None, inner: str, *, label: str | None = None) -> str:
    """`inner` wrapped in an <a> when there is somewhere to go."""
    if not url:
        return inner
    return f'<a{attrs(href=url, aria_label=label)}>{inner}</a>'


def shorten(value: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking the cut."""
    return value if len(value) <= limit else value[: max(1, limit - 1)] + "…"


def _n(value: float) -> str:
    """A coordinate without noise: 12, 12.5, 12.33."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def number(value: float) -> str:
    """A reading as a person writes it: 230, 48.5, 0.12, -7.35."""
    size = abs(value)
    digits = 0 if size >= 100 else 1 if size >= 10 else 2
    shown = f"{value:.{digits}f}"
    if "." in shown:
        shown = shown.rstrip("0").rstrip(".")
    return "0" if shown in ("-0", "") else shown


# --------------------------------------------------------------------------- the sample graph


@dataclass(frozen=True)
class ChartText:
    """What the graph says, translated by the caller."""

    title: str
    unit: str = ""
    empty: str = "no data"
    minimum: str = "min"
    maximum: str = "max"
    gap: str = "no data"


def _time_label(at: dt.datetime, span: dt.timedelta) -> str:
    return at.strftime("%d.%m %H:%M") if span >= dt.timedelta(hours=20) else at.strftime("%H:%M")


def gap_threshold(times: Sequence[dt.datetime]) -> dt.timedelta:
    """Longer than this between two samples is a gap (the probe did not read,
    or the device was silent): three typical intervals, at least two minutes."""
    steps = sorted((b - a) for a, b in zip(times, times[1:]) if b > a)
    typical = steps[len(steps) // 2] if steps else dt.timedelta(minutes=1)
    return max(typical * 3, dt.timedelta(minutes=2))


def segments(points: Sequence[tuple[dt.datetime, float]], gap: dt.timedelta) -> list[list[tuple[dt.datetime, float]]]:
    """The points (in time order) cut wherever two samples are more than `gap` apart."""
    out: list[list[tuple[dt.datetime, float]]] = []
    for at, value in points:
        if out and at - out[-1][-1][0] <= gap:
            out[-1].append((at, value))
        else:
            out.append([(at, value)])
    return out


def chart(
    points: Iterable[tuple[dt.datetime, float]],
    words: ChartText,
    *,
    width: int = 360,
    height: int = 140,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    gap: dt.timedelta | None = None,
    time_label: Callable[[dt.datetime, dt.timedelta], str] = _time_label,
) -> str:
    """A line graph of one series of samples: title and last value on top,
    min and max on the value axis, the time span under it, gaps left open
    (and shaded) where samples are missing. `start`/`end` fix the time axis
    (e.g. the last 24 h) so graphs of one page line up."""
    pts = sorted(points)
    left, right, top, bottom = 52, 10, 24, 22
    pw, ph = width - left - right, height - top - bottom
    out = [svg_open(width, height, class_="chart", label=f"{words.title}{' (' + words.unit + ')' if words.unit else ''}")]
    out.append(text(4, 15, words.title, class_="chart-title"))
    out.append(f'<rect{attrs(x=left, y=top, width=pw, height=ph, class_="chart-frame")}/>')
    if not pts:
        out.append(text(left + pw / 2, top + ph / 2 + 5, words.empty, class_="chart-empty", anchor="middle"))
        out.append("</svg>")
        return "".join(out)
    t0 = min(start or pts[0][0], pts[0][0])
    t1 = max(end or pts[-1][0], pts[-1][0])
    span = t1 - t0
    seconds = span.total_seconds() or 1.0
    values = [v for _, v in pts]
    lo, hi = min(values), max(values)
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo_axis, hi_axis = lo - pad, hi + pad
    else:
        pad = (hi - lo) * 0.08
        lo_axis, hi_axis = lo - pad, hi + pad

    def x(at: dt.datetime) -> float:
        return left + pw * (at - t0).total_seconds() / seconds

    def y(value: float) -> float:
        return top + ph * (1 - (value - lo_axis) / (hi_axis - lo_axis))

    unit = f" {words.unit}" if words.unit else ""
    last = pts[-1][1]
    out.append(text(width - right, 15, f"{number(last)}{unit}", class_="chart-last", anchor="end"))
    # Value axis: max at the top line, min at the bottom line.
    for value, word, cls in ((hi, words.maximum, "chart-max"), (lo, words.minimum, "chart-min")):
        yy = y(value)
        out.append(f'<line{attrs(x1=left, x2=left + pw, y1=_n(yy), y2=_n(yy), class_=f"chart-guide {cls}")}/>')
        out.append(text(left - 4, yy + 4, number(value), class_="chart-axis", anchor="end"))
        out.append(f"<desc>{esc(word)} {esc(number(value))}{esc(unit)}</desc>")
    out.append(text(left, height - 6, time_label(t0, span), class_="chart-axis", anchor="start"))
    out.append(text(left + pw, height - 6, time_label(t1, span), class_="chart-axis", anchor="end"))
    parts = segments(pts, gap or gap_threshold([at for at, _ in pts]))
    for before, after in zip(parts, parts[1:]):
        x0, x1 = x(before[-1][0]), x(after[0][0])
        out.append(f'<rect{attrs(x=_n(x0), y=top, width=_n(max(x1 - x0, 1)), height=ph, class_="chart-gap")}>'
                   f"<title>{esc(words.gap)}</title></rect>")
    for part in parts:
        if len(part) == 1:
            at, value = part[0]
            out.append(f'<circle{attrs(cx=_n(x(at)), cy=_n(y(value)), r=2.5, class_="chart-dot")}/>')
        else:
            coords = " ".join(f"{_n(x(at))},{_n(y(value))}" for at, value in part)
            out.append(f'<polyline{attrs(points=coords, class_="chart-line")}/>')
    out.append("</svg>")
    return "".join(out)
