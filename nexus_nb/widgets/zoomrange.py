"""One x range of a source re-read at full resolution, for a zoomed plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, cast, runtime_checkable

import numpy as np

from nexus_nb.widgets.decimate import decimate_minmax
from nexus_nb.widgets.source import Source
from nexus_nb.widgets.traces import group_codes

__all__ = ["TimeIndexed", "read_range"]


@runtime_checkable
class TimeIndexed(Protocol):
    """A source that finds a time range itself (:class:`~nexus_nb.buffer.RingBuffer`)."""

    def locate(self, start: int, end: int) -> tuple[int, int] | None:
        """Arrival indexes ``(first, stop)`` of rows with ``start <= timestamp <= end`` (ns)."""
        ...

    def read(
        self, columns: Sequence[str], *, start: int = 0, stop: int | None = None
    ) -> tuple[int, dict[str, np.ndarray]]:
        """Rows with arrival index in ``[start, stop)``, as :meth:`Source.read` gives them."""
        ...


def _to_ms(xs: np.ndarray) -> np.ndarray:
    return (xs // 1000) / 1000.0 if xs.dtype == np.int64 else xs.astype(np.float64)


def read_range(
    source: Source,
    *,
    x: str,
    ys: Sequence[str],
    color: str | None,
    facet: str | None,
    start: float,
    end: float,
    max_points: int | None,
    groups: Mapping[str, int] | None = None,
    facets: Mapping[str, int] | None = None,
) -> dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]]:
    """Return every trace's points with ``start <= x <= end`` (x in ms for time).

    Under ``max_points`` a trace gets every row of the range; over it, a min/max
    envelope over ``max_points // 4`` buckets (each bucket's first, last, lowest
    and highest point). When the x column is monotonic (arrival order, the usual
    case) the range is located with ``np.searchsorted`` and only its rows are
    read for the y and group columns; otherwise a pass over the x column selects
    them and orders them by x (still exact). Every trace is in x order.

    Args:
        source: Where the rows come from.
        x: The x column; int64 ``timestamp`` (ns) is compared in epoch ms.
        ys: The y columns.
        color: Column naming each trace's group, or ``None``.
        facet: Column naming each trace's row, or ``None``.
        start: First x kept.
        end: Last x kept.
        max_points: Points per trace before the envelope, or ``None``.
        groups: Known colour groups; others are left out (the plot's limit).
        facets: Known facet values; others are left out.

    Returns:
        ``{(y column, facet, group): (x values, y values)}`` as float64 arrays.
    """
    names = list(dict.fromkeys([*ys, *filter(None, (color, facet))]))
    indexed = cast(TimeIndexed, source) if isinstance(source, TimeIndexed) else None
    span = None
    take: np.ndarray | slice
    if x == "timestamp" and indexed is not None:
        # x is kept as floor(ns / 1000) / 1000 ms: the same rows in ns bounds.
        span = indexed.locate(
            int(np.ceil(start * 1000)) * 1000, (int(np.floor(end * 1000)) + 1) * 1000 - 1
        )
    if indexed is not None and span is not None:
        _, cols = indexed.read([x, *names], start=span[0], stop=span[1])
        xr = _to_ms(cols.pop(x))
        lo, hi, take = 0, len(xr), slice(None)
    else:
        xr, lo, hi, take, cols = _scan(source, x, names, start, end)
    if len(xr) == 0:
        return {}
    cols = {k: v[: hi - lo][take] for k, v in cols.items()}
    out: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
    # Group numbers only where a column splits the traces: labelling a constant
    # column of a million strings would cost more than the rest of the render.
    gcodes, gnames = _groups(cols[color]) if color else (None, [""])
    fcodes, fnames = _groups(cols[facet]) if facet else (None, [""])
    for ycol in ys:
        yv = cols[ycol].astype(np.float64, copy=False)
        for fi, f in enumerate(fnames):
            if facets is not None and facet and f not in facets:
                continue
            for gi, g in enumerate(gnames):
                if groups is not None and color and g not in groups:
                    continue
                sel = ~np.isnan(yv)
                if fcodes is not None:
                    sel &= fcodes == fi
                if gcodes is not None:
                    sel &= gcodes == gi
                px, py = xr[sel], yv[sel]
                if len(px) == 0:
                    continue
                if max_points is not None and len(px) > max_points:
                    px, py = decimate_minmax(px, py, buckets=max(1, max_points // 4))
                out[(ycol, f, g)] = (px, py)
    return out


def _groups(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Number each row's group; names as the live traces give them (missing is ``(missing)``)."""
    table: dict[str, int] = {}
    codes = group_codes(values, table, len(values) + 1)
    return codes, list(table)


def _scan(
    source: Source, x: str, names: list[str], start: float, end: float
) -> tuple[np.ndarray, int, int, np.ndarray | slice, dict[str, np.ndarray]]:
    """Find the range by reading the whole x column: searchsorted if it is sorted, else a scan."""
    first, data = source.read([x])
    xv = _to_ms(data[x])
    if len(xv) > 1 and bool(np.all(xv[1:] >= xv[:-1])):
        lo = int(np.searchsorted(xv, start, side="left"))
        hi = int(np.searchsorted(xv, end, side="right"))
        _, cols = source.read(names, start=first + lo)
        return xv[lo:hi], lo, hi, slice(0, hi - lo), cols
    # Rows out of time order (a late backlog, sources with their own clocks): the
    # range's rows are taken in x order, so every trace is drawn left to right.
    rows = np.flatnonzero((xv >= start) & (xv <= end))
    rows = rows[np.argsort(xv[rows], kind="stable")]
    _, cols = source.read(names, start=first)
    return xv[rows], 0, len(xv), rows, cols
