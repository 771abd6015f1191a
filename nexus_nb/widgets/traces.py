"""The rows of a source folded into one bounded series per plotted trace."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from nexus_nb.exceptions import SchemaError
from nexus_nb.widgets.series import TraceSeries
from nexus_nb.widgets.source import Source

__all__ = ["MISSING", "TraceKey", "TraceSet", "group_codes"]

TraceKey = tuple[str, str, str]
"""A trace's identity: (y column, facet value, colour group); "" when unused."""

# Rows pending beyond this are first probed on x alone to skip what the window hides.
PROBE_ROWS = 50_000

MISSING = "(missing)"
"""The group of rows whose colour or facet column has no value."""


def group_codes(values: np.ndarray, table: dict[str, int], limit: int) -> np.ndarray:
    """Map values to group numbers, giving new groups the next number up to ``limit``.

    Missing values form the group ``"(missing)"``; values past the limit get -1.
    Groups are numbered in the order first seen; ``"(missing)"`` takes a number
    (and a place under the limit) only once a value is missing.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = [str(u) for u in uniques] + [MISSING]
    lookup = np.full(len(names), -1, dtype=np.int64)
    missing = bool(len(codes)) and bool((codes < 0).any())
    for i, name in enumerate(names):
        if i == len(names) - 1 and not missing:
            break
        if name not in table and len(table) < limit:
            table[name] = len(table)
        lookup[i] = table.get(name, -1)
    return lookup[codes]  # The sentinel -1 indexes "(missing)", the last entry.


class TraceSet:
    """Per-trace series fed incrementally from a source, with no plotting involved.

    Each :meth:`ingest` reads only rows appended since the previous one (after a
    long pause, only those inside the window), splits them by ``color`` group
    and ``facet`` value and appends them to the matching :class:`TraceSeries`.
    Cost is O(rows read), never O(buffer).

    Args:
        x: Column on the x axis; int64 (``"timestamp"``, ns) becomes epoch ms.
        ys: Columns plotted on y.
        color: Column whose values each get a trace, or ``None``.
        facet: Column whose values each get a row, or ``None``.
        window: Visible x span (epoch ms for time), or ``None``.
        max_points: Points per trace before decimating, or ``None``.
        max_groups: Most colour groups; rows of later ones are dropped and counted
            in :attr:`dropped_rows`.
        max_facets: Most facet values; same overflow policy.
    """

    def __init__(
        self,
        *,
        x: str,
        ys: Sequence[str],
        color: str | None,
        facet: str | None,
        window: float | None,
        max_points: int | None,
        max_groups: int,
        max_facets: int,
    ) -> None:
        self.x = x
        self.ys = list(ys)
        self.color = color
        self.facet = facet
        self.window = window
        self.max_points = max_points
        self.max_groups = max_groups
        self.max_facets = max_facets
        self.dropped_rows = 0
        self.newest = -np.inf
        self.oldest = np.inf
        self.groups: dict[str, int] = {}
        self.facets: dict[str, int] = {}
        self.series: dict[TraceKey, TraceSeries] = {}
        self._seen = 0

    def ingest(self, source: Source) -> None:
        """Fold the rows appended to ``source`` since the last call.

        Raises:
            SchemaError: If the x or a y column holds text.
        """
        start = self._seen
        if getattr(source, "rewrites", False):
            # Every held row is re-issued on each change: draw them afresh, keeping
            # the series (and so the traces and colours) that exist.
            start = 0
            for key, series in self.series.items():
                self.series[key] = TraceSeries(max_points=series.max_points, window=series.window)
                self.series[key].dirty = True
            self.newest, self.oldest = -np.inf, np.inf
        elif self.window is not None:
            start = self._skip_to_window(source, start)
        names = list(dict.fromkeys([self.x, *self.ys, *filter(None, (self.color, self.facet))]))
        first, data = source.read(names, start=start)
        xs = data[self.x]
        self._seen = first + len(xs)
        if len(xs) == 0:
            return
        if xs.dtype == object:
            raise SchemaError(f"x column {self.x!r} holds text, not numbers or times")
        # Whole microseconds fit float64 exactly; milliseconds then round once.
        xv = (xs // 1000) / 1000.0 if xs.dtype == np.int64 else xs.astype(np.float64)
        if not np.all(np.isnan(xv)):
            self.newest = max(self.newest, float(np.nanmax(xv)))
            self.oldest = min(self.oldest, float(np.nanmin(xv)))
        n = len(xv)
        groups = group_codes(data[self.color], self.groups, self.max_groups) if self.color else None
        facets = group_codes(data[self.facet], self.facets, self.max_facets) if self.facet else None
        overflow = np.zeros(n, dtype=bool)
        key_code = np.zeros(n, dtype=np.int64)
        if facets is not None:
            overflow |= facets < 0
            key_code += facets * (self.max_groups + 1)
        if groups is not None:
            overflow |= groups < 0
            key_code += groups
        self.dropped_rows += int(overflow.sum())
        known = ~np.isnan(xv) & ~overflow
        for ycol in self.ys:
            self._fold(ycol, xv, data[ycol], key_code, known)
        if self.window is not None:
            for series in self.series.values():
                series.evict(self.newest - self.window)

    def _fold(
        self, ycol: str, xv: np.ndarray, ys: np.ndarray, key_code: np.ndarray, keep: np.ndarray
    ) -> None:
        if ys.dtype == object:
            raise SchemaError(f"y column {ycol!r} holds text, not numbers")
        index = np.flatnonzero(keep & ~np.isnan(ys))
        if len(index) == 0:
            return
        codes = key_code[index]
        order = np.argsort(codes, kind="stable")
        index, codes = index[order], codes[order]
        bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
        group_names = {v: k for k, v in self.groups.items()}
        facet_names = {v: k for k, v in self.facets.items()}
        for lo, hi in itertools.pairwise(bounds):
            facet_no, group_no = divmod(int(codes[lo]), self.max_groups + 1)
            facet = facet_names.get(facet_no, "") if self.facet else ""
            group = group_names.get(group_no, "") if self.color else ""
            key = (ycol, facet, group)
            series = self.series.get(key)
            if series is None:
                series = TraceSeries(max_points=self.max_points, window=self.window)
                self.series[key] = series
            rows = index[lo:hi]
            series.extend(xv[rows], ys[rows].astype(np.float64, copy=False))

    def _skip_to_window(self, source: Source, start: int) -> int:
        """Return the first arrival index worth reading when far behind."""
        assert self.window is not None
        if source.appended - start <= PROBE_ROWS:
            return start
        first, data = source.read([self.x], start=start)
        stamps = data[self.x]
        if len(stamps) == 0 or stamps.dtype != np.int64:
            return start
        cutoff = max(float(stamps.max()) * 1e-6, self.newest) - self.window
        return first + int(np.argmax(stamps * 1e-6 >= cutoff))
