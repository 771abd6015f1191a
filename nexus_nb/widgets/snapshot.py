"""A plot's last frame as self-contained SVG: what closed views, exports and widget-less pages show.

No plotly.js, no network, no image library: axes, ticks, a legend and one
polyline per trace, reduced to at most two points per pixel column, so the
markup stays small (tens of KB) however many rows the plot holds. Bar traces
(bar and histogram views) are drawn as one rectangle per bar; they hold a
bounded summary (categories, bins), never raw rows.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

__all__ = ["SnapshotTrace", "plot_svg"]

_MS = {"s": 1_000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
# Tick steps for a time axis, in ms: 1 ms .. 5 days.
_TIME_STEPS = [
    *(m * 10.0**e for e in range(3) for m in (1, 2, 5)),
    *(s * _MS["s"] for s in (1, 2, 5, 10, 15, 30)),
    *(m * _MS["min"] for m in (1, 2, 5, 10, 15, 30)),
    *(h * _MS["h"] for h in (1, 2, 3, 6, 12)),
    *(d * _MS["d"] for d in (1, 2, 5)),
]
_FONT = "font-family='sans-serif' font-size='11'"


@dataclass(frozen=True)
class SnapshotTrace:
    """One trace of a snapshot: its legend name, colour, subplot row and points.

    With ``bar_width`` set the trace is bars: ``x`` holds each bar's centre,
    ``bar_width`` its width in x units (one value, or one per bar), ``y`` its
    height from zero. ``opacity`` lets overlaid bars show through.
    """

    name: str
    colour: str
    row: int
    x: np.ndarray
    y: np.ndarray
    show_legend: bool = True
    bar_width: np.ndarray | None = None
    opacity: float = 1.0


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if mult * power >= raw:
            return mult * power
    return 10 * power


def _ticks(lo: float, hi: float, *, time_axis: bool, count: int) -> list[float]:
    if not hi > lo:
        return [lo]
    if time_axis:
        raw = (hi - lo) / count
        step = next((s for s in _TIME_STEPS if s >= raw), _nice_step(hi - lo, count))
    else:
        step = _nice_step(hi - lo, count)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _label(value: float, step: float, *, time_axis: bool) -> str:
    if time_axis:
        stamp = datetime.fromtimestamp(value / 1000.0, tz=UTC)
        if step >= _MS["d"]:
            return stamp.strftime("%b %d")
        if step >= _MS["min"]:
            return stamp.strftime("%H:%M")
        if step >= _MS["s"]:
            return stamp.strftime("%H:%M:%S")
        return stamp.strftime("%H:%M:%S.%f")[:-3]
    return f"{value:.6g}"


def _envelope(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most two points (min and max y) per pixel column, in x order."""
    cols = np.floor(px).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
    if len(starts) * 2 >= len(px):
        return px, py
    lo = np.minimum.reduceat(py, starts)
    hi = np.maximum.reduceat(py, starts)
    xs = np.repeat(px[starts], 2)
    ys = np.column_stack([lo, hi]).ravel()
    return xs, ys


def _half_width(trace: SnapshotTrace) -> np.ndarray | float:
    """Half of each bar's width (zero for a line trace)."""
    if trace.bar_width is None:
        return 0.0
    return np.asarray(trace.bar_width, dtype=float) / 2.0


def _bars(
    trace: SnapshotTrace, left: np.ndarray, right: np.ndarray, top: np.ndarray, base: float
) -> list[str]:
    """One rectangle per bar from ``base`` to ``top`` (pixels), skipping empty ones."""
    colour = html.escape(trace.colour)
    opacity = f" fill-opacity='{trace.opacity:.2f}'" if trace.opacity < 1 else ""
    rects = []
    for x0, x1, y in zip(left, right, top, strict=True):
        if not (np.isfinite(x0) and np.isfinite(y)) or y == base:
            continue
        y_lo, y_hi = min(y, base), max(y, base)
        rects.append(
            f"<rect x='{x0:.1f}' y='{y_lo:.1f}' width='{max(x1 - x0, 0.5):.1f}' "
            f"height='{y_hi - y_lo:.1f}' fill='{colour}'{opacity}/>"
        )
    return rects


def plot_svg(
    traces: Sequence[SnapshotTrace],
    *,
    rows: Sequence[str],
    x_range: tuple[float, float] | None,
    time_axis: bool,
    title: str | None = None,
    mode: str = "lines",
    width: int = 900,
    height: int | None = None,
    note: str = "",
    x_ticks: Sequence[tuple[float, str]] | None = None,
) -> str:
    """Draw ``traces`` as one SVG document with a subplot row per entry of ``rows``.

    Args:
        traces: The traces, each naming its row (an index into ``rows``).
        rows: The y-axis title of each stacked row, top first.
        x_range: The visible x span; ``None`` spans the data.
        time_axis: Whether x holds epoch milliseconds (labelled as UTC times).
        title: Shown top left.
        mode: ``"lines"``, ``"markers"`` or ``"lines+markers"``, as in plotly.
        width: Width in px; the markup scales down to its container.
        height: Height in px; default 360 for one row, more for several.
        note: A line of small text under the chart (e.g. when it was taken).
        x_ticks: Explicit x ticks as (position, label), e.g. a bar chart's categories;
            ``None`` picks numbers or times.
    """
    rows = list(rows) or [""]
    height = height or (360 if len(rows) == 1 else 160 + 170 * len(rows))
    left, right, top, bottom = 60, 20, (50 if title else 30), 40 + (14 if note else 0)
    finite = [t for t in traces if len(t.x)]
    if x_range is None and finite:
        x_range = (
            min(float(np.nanmin(t.x - _half_width(t))) for t in finite),
            max(float(np.nanmax(t.x + _half_width(t))) for t in finite),
        )
    lo, hi = x_range or (0.0, 1.0)
    if not hi > lo:
        lo, hi = lo - 1.0, hi + 1.0
    plot_w = width - left - right
    gap = 24
    row_h = (height - top - bottom - gap * (len(rows) - 1)) / len(rows)
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='nnb-snapshot' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}' role='img' "
        f"aria-label='{html.escape(title or 'plot')}' style='max-width:100%;height:auto'>",
        f"<rect width='{width}' height='{height}' fill='white'/>",
    ]
    if title:
        out.append(
            f"<text x='{left}' y='20' font-family='sans-serif' font-size='15' fill='#222'>"
            f"{html.escape(title)}</text>"
        )
    if x_ticks is not None:
        xticks = [position for position, _ in x_ticks]
        xlabels = [label for _, label in x_ticks]
    else:
        xticks = _ticks(lo, hi, time_axis=time_axis, count=max(2, plot_w // 110))
        xstep = xticks[1] - xticks[0] if len(xticks) > 1 else hi - lo
        xlabels = [_label(tick, xstep, time_axis=time_axis) for tick in xticks]

    def sx(values: np.ndarray) -> np.ndarray:
        return left + (values - lo) / (hi - lo) * plot_w

    for r, label in enumerate(rows):
        y0 = top + r * (row_h + gap)
        members = [t for t in finite if t.row == r]
        ys = [t.y[np.isfinite(t.y)] for t in members]
        ys = [y for y in ys if len(y)]
        ylo = min((float(y.min()) for y in ys), default=0.0)
        yhi = max((float(y.max()) for y in ys), default=1.0)
        bars = any(t.bar_width is not None for t in members)
        if bars:  # Bars grow from zero: the axis holds it.
            ylo, yhi = min(ylo, 0.0), max(yhi, 0.0)
        if not yhi > ylo:
            ylo, yhi = ylo - 1.0, yhi + 1.0
        pad = (yhi - ylo) * 0.05
        ylo, yhi = (ylo if bars and ylo == 0 else ylo - pad), yhi + pad
        out.append(
            f"<rect x='{left}' y='{y0:.1f}' width='{plot_w}' height='{row_h:.1f}' "
            "fill='#fafafa' stroke='#ddd'/>"
        )
        for tick in _ticks(ylo, yhi, time_axis=False, count=max(2, int(row_h // 50))):
            ty = y0 + row_h - (tick - ylo) / (yhi - ylo) * row_h
            out.append(
                f"<line x1='{left}' x2='{left + plot_w}' y1='{ty:.1f}' y2='{ty:.1f}' "
                "stroke='#eee'/>"
            )
            out.append(
                f"<text x='{left - 6}' y='{ty + 4:.1f}' text-anchor='end' {_FONT} fill='#444'>"
                f"{html.escape(_label(tick, 1.0, time_axis=False))}</text>"
            )
        if label:
            cy = y0 + row_h / 2
            out.append(
                f"<text x='14' y='{cy:.1f}' transform='rotate(-90 14 {cy:.1f})' "
                f"text-anchor='middle' {_FONT} fill='#444'>{html.escape(label)}</text>"
            )
        clip = f"nnb-clip-{r}"
        out.append(
            f"<clipPath id='{clip}'><rect x='{left}' y='{y0:.1f}' width='{plot_w}' "
            f"height='{row_h:.1f}'/></clipPath><g clip-path='url(#{clip})'>"
        )
        for trace in members:
            if trace.bar_width is not None:
                half = _half_width(trace)
                base = y0 + row_h - (0.0 - ylo) / (yhi - ylo) * row_h
                tops = y0 + row_h - (trace.y - ylo) / (yhi - ylo) * row_h
                out.extend(_bars(trace, sx(trace.x - half), sx(trace.x + half), tops, base))
                continue
            keep = np.isfinite(trace.x) & np.isfinite(trace.y)
            keep &= (trace.x >= lo) & (trace.x <= hi)
            px = sx(np.asarray(trace.x[keep], dtype=float))
            py = y0 + row_h - (np.asarray(trace.y[keep], dtype=float) - ylo) / (yhi - ylo) * row_h
            px, py = _envelope(px, py)
            if not len(px):
                continue
            colour = html.escape(trace.colour)
            if "lines" in mode:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(px, py, strict=True))
                out.append(
                    f"<polyline fill='none' stroke='{colour}' stroke-width='1' points='{points}'/>"
                )
            if "markers" in mode:
                out.extend(
                    f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2' fill='{colour}'/>"
                    for x, y in zip(px, py, strict=True)
                )
        out.append("</g>")
    axis_y = height - bottom
    for tick, text in zip(xticks, xlabels, strict=True):
        tx = float(sx(np.array([tick]))[0])
        out.append(
            f"<text x='{tx:.1f}' y='{axis_y + 16}' text-anchor='middle' {_FONT} fill='#444'>"
            f"{html.escape(text)}</text>"
        )
    named = [t for t in traces if t.show_legend]
    x = width - right
    for trace in reversed(named):
        name = html.escape(trace.name)
        x -= 22 + 7 * len(trace.name)
        swatch = (
            f"<rect x='{x}' y='{top - 15}' width='14' height='10' "
            f"fill='{html.escape(trace.colour)}'/>"
            if trace.bar_width is not None
            else f"<line x1='{x}' x2='{x + 14}' y1='{top - 10}' y2='{top - 10}' "
            f"stroke='{html.escape(trace.colour)}' stroke-width='2'/>"
        )
        out.append(f"{swatch}<text x='{x + 18}' y='{top - 6}' {_FONT} fill='#444'>{name}</text>")
    if not finite:
        out.append(
            f"<text x='{left + plot_w / 2}' y='{top + (height - top - bottom) / 2}' "
            f"text-anchor='middle' {_FONT} fill='#444'>no data yet</text>"
        )
    if note:
        out.append(
            f"<text x='{left}' y='{height - 6}' {_FONT} fill='#888'>{html.escape(note)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
