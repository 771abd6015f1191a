"""One x range of a source re-read at full resolution, for a zoomed plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nexus_nb.widgets.decimate import decimate_minmax
from nexus_nb.widgets.source import Source

__all__ = ["read_range"]


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
    read for the y and group columns; otherwise a mask over the x column selects
    them (still exact, one pass over x).

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
    first, data = source.read([x])
    xv = _to_ms(data[x])
    if len(xv) > 1 and bool(np.all(xv[1:] >= xv[:-1])):
        lo = int(np.searchsorted(xv, start, side="left"))
        hi = int(np.searchsorted(xv, end, side="right"))
        take: np.ndarray | slice = slice(0, hi - lo)
        offset = first + lo
        xr = xv[lo:hi]
    else:
        mask = (xv >= start) & (xv <= end)
        lo, hi = 0, len(xv)
        take, offset, xr = mask, first, xv[mask]
    if len(xr) == 0:
        return {}
    names = list(dict.fromkeys([*ys, *filter(None, (color, facet))]))
    _, cols = source.read(names, start=offset)
    cols = {k: v[: hi - lo][take] for k, v in cols.items()}
    out: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
    # One label per row only where a column splits the traces: sorting a constant
    # column of a million strings would cost more than the rest of the render.
    gval = cols[color].astype(str) if color else None
    fval = cols[facet].astype(str) if facet else None
    for ycol in ys:
        yv = cols[ycol].astype(np.float64, copy=False)
        for f in np.unique(fval) if fval is not None else [""]:
            if facets is not None and facet and f not in facets:
                continue
            for g in np.unique(gval) if gval is not None else [""]:
                if groups is not None and color and g not in groups:
                    continue
                sel = ~np.isnan(yv)
                if fval is not None:
                    sel &= fval == f
                if gval is not None:
                    sel &= gval == g
                px, py = xr[sel], yv[sel]
                if max_points is not None and len(px) > max_points:
                    px, py = decimate_minmax(px, py, buckets=max(1, max_points // 4))
                out[(ycol, str(f), str(g))] = (px, py)
    return out
