"""A live histogram of one column over the plot's time window (``LivePlot(kind="histogram")``).

Counts are kept in the kernel and only bin edges and counts reach the browser.
The rows of the window are held as (time, value, group) columns so that rows
leaving the window are subtracted exactly; each frame costs O(rows arrived +
rows left), and a full recount happens only when the bins change.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from nexus_nb.exceptions import SchemaError
from nexus_nb.widgets.chart import Chart, epoch_ms
from nexus_nb.widgets.snapshot import SnapshotTrace
from nexus_nb.widgets.source import Source
from nexus_nb.widgets.traces import group_codes

__all__ = ["HistogramChart", "WindowHistogram", "nice_edges"]

#: Rows held for one histogram's window; past it the oldest leave early (counted).
MAX_ROWS = 1_000_000
#: Most bins a histogram may have (bytes per frame grow with them).
MAX_BINS = 1_000
# Automatic bins are rebuilt once the data would fit in this fraction of them.
_SHRINK = 0.2
# Rows per held chunk before a new one starts.
_CHUNK_ROWS = 8192


def _nice_width(span: float, bins: int) -> float:
    """The smallest width of 1, 2, 2.5 or 5 x 10^k with ``bins - 1`` of them covering ``span``."""
    raw = span / max(bins - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw * (1 - 1e-12))


def nice_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """``bins + 1`` equal edges on a round width, starting at a multiple of it, covering [lo, hi].

    Round widths keep the edges still while the data moves a little, so counts
    update incrementally instead of being recounted every frame.
    """
    span = hi - lo
    width = _nice_width(span if span > 0 else max(abs(lo), 1.0) / 10.0, bins)
    while True:
        start = math.floor(lo / width) * width
        edges = start + width * np.arange(bins + 1)
        if edges[-1] >= hi:
            return edges
        width = _nice_width(width * bins * 1.01, bins)  # Rounding left hi out: one size up.


class _Chunk:
    """Held rows, in arrival order: times (epoch ms), values, groups, and their extremes.

    Rows of consecutive small ingests share a chunk (up to :data:`_CHUNK_ROWS`),
    so per-frame scans over chunks stay short however long the window is.
    """

    __slots__ = ("group", "time", "tmin", "value", "vmax", "vmin")

    def __init__(self, time: np.ndarray, value: np.ndarray, group: np.ndarray) -> None:
        self.time, self.value, self.group = time, value, group
        self.tmin = self.vmin = np.inf
        self.vmax = -np.inf
        self._extremes()

    def _extremes(self) -> None:
        known = self.time[~np.isnan(self.time)]
        # Rows without a time never age out of the window (only past max_rows).
        self.tmin = float(known.min()) if len(known) else np.inf
        self.vmin = float(self.value.min()) if len(self.value) else np.inf
        self.vmax = float(self.value.max()) if len(self.value) else -np.inf

    def __len__(self) -> int:
        return len(self.value)

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is true."""
        self.time, self.value, self.group = self.time[mask], self.value[mask], self.group[mask]
        self._extremes()

    def extend(self, other: _Chunk) -> None:
        """Append ``other``'s rows."""
        self.time = np.concatenate((self.time, other.time))
        self.value = np.concatenate((self.value, other.value))
        self.group = np.concatenate((self.group, other.group))
        self.tmin = min(self.tmin, other.tmin)
        self.vmin, self.vmax = min(self.vmin, other.vmin), max(self.vmax, other.vmax)


class WindowHistogram:
    """Counts per bin (and ``color`` group) of one column over a sliding time window.

    Equal to ``numpy.histogram(values, bins=edges)`` over the rows whose time is
    within ``window`` of the newest row's time (every row with ``window=None``),
    per group. Values outside fixed edges are counted in :attr:`outside`;
    missing values are skipped. With ``bins`` a count, edges are
    :func:`nice_edges` over the window's values, rebuilt (a recount) only when a
    value falls outside them or the data would fit in a fifth of them.

    Bounds: at most ``max_rows`` rows are held (past it the oldest leave the
    histogram early, counted in :attr:`evicted_rows`), at most ``max_groups``
    groups (rows of later ones are counted in :attr:`dropped_rows`), at most
    :data:`MAX_BINS` bins.

    Args:
        x: The column to count (int64 ``"timestamp"`` becomes epoch ms).
        color: Column whose values each get their own counts, or ``None``.
        window: The time span counted (epoch ms), or ``None`` for every row.
        bins: How many bins, or the edges themselves (increasing).
        max_groups: Most ``color`` groups.
        max_rows: Most rows held for the window.

    Raises:
        ValueError: If ``bins`` is below 1 or above :data:`MAX_BINS`, or edges
            are not increasing.
    """

    def __init__(
        self,
        *,
        x: str,
        color: str | None,
        window: float | None,
        bins: int | Sequence[float],
        max_groups: int,
        max_rows: int = MAX_ROWS,
    ) -> None:
        self.fixed = not isinstance(bins, int)
        if isinstance(bins, int):
            self.bins = bins
            self.edges = np.empty(0)
        else:
            self.edges = np.asarray(bins, dtype=np.float64)
            self.bins = len(self.edges) - 1
            if self.bins >= 1 and not np.all(np.diff(self.edges) > 0):
                raise ValueError("bin edges must be increasing")
        if not 1 <= self.bins <= MAX_BINS:
            raise ValueError(f"a histogram needs 1 to {MAX_BINS} bins, got {self.bins}")
        self.x = x
        self.color = color
        self.window = window
        self.max_groups = max_groups
        self.max_rows = max_rows
        self.groups: dict[str, int] = {} if color else {"": 0}
        self.dropped_rows = 0
        self.evicted_rows = 0
        self.newest = -np.inf
        # Per group: a count per bin, then the rows outside the edges.
        self.counts = np.zeros((len(self.groups), self.bins + 1), dtype=np.int64)
        self._held: deque[_Chunk] = deque()
        self._rows = 0
        self._seen = 0

    @property
    def outside(self) -> int:
        """Rows in the window whose value is outside fixed edges (none with automatic ones)."""
        return int(self.counts[:, -1].sum())

    def histogram(self) -> np.ndarray:
        """The counts: one row per group (in first-seen order), one column per bin."""
        return self.counts[:, :-1]

    def ingest(self, source: Source) -> None:
        """Fold the rows appended since the last call and drop those that left the window.

        Raises:
            SchemaError: If the column holds text.
        """
        start = self._seen
        if getattr(source, "rewrites", False):
            start = 0  # Every held row changed in place: count them all afresh.
            self._held.clear()
            self._rows = 0
            self.counts[:] = 0
            self.dropped_rows = self.evicted_rows = 0
            self.newest = -np.inf
        names = list(dict.fromkeys(["timestamp", self.x, *filter(None, [self.color])]))
        first, data = source.read(names, start=start)
        self._seen = first + len(data[self.x])
        self._add(data)
        self._evict()
        if not self.fixed:
            self._fit_edges()

    def _add(self, data: dict[str, np.ndarray]) -> None:
        values = data[self.x]
        if len(values) == 0:
            return
        if values.dtype == object:
            raise SchemaError(f"column {self.x!r} holds text, not numbers")
        values = epoch_ms(values)
        times = epoch_ms(data["timestamp"])
        if not np.all(np.isnan(times)):
            self.newest = max(self.newest, float(np.nanmax(times)))
        if self.color:
            groups = group_codes(data[self.color], self.groups, self.max_groups)
            overflow = groups < 0
            self.dropped_rows += int(overflow.sum())
        else:
            groups = np.zeros(len(values), dtype=np.int64)
            overflow = np.zeros(len(values), dtype=bool)
        if len(self.groups) > len(self.counts):
            grown = np.zeros((len(self.groups), self.bins + 1), dtype=np.int64)
            grown[: len(self.counts)] = self.counts
            self.counts = grown
        keep = ~overflow & ~np.isnan(values)
        if not keep.any():
            return
        chunk = _Chunk(times[keep], values[keep], groups[keep].astype(np.int32))
        self._rows += len(chunk)
        if len(self.edges):
            self.counts += self._count(chunk)
        if self._held and len(self._held[-1]) + len(chunk) <= _CHUNK_ROWS:
            self._held[-1].extend(chunk)
        else:
            self._held.append(chunk)

    def _count(self, chunk: _Chunk) -> np.ndarray:
        """The chunk's counts per group and bin (numpy.histogram's rule: last bin closed)."""
        index = np.searchsorted(self.edges, chunk.value, side="right") - 1
        index[chunk.value == self.edges[-1]] = self.bins - 1
        index[(index < 0) | (index >= self.bins)] = self.bins  # Outside the edges.
        cells = chunk.group.astype(np.int64) * (self.bins + 1) + index
        counted = np.bincount(cells, minlength=self.counts.size)
        return counted.reshape(self.counts.shape)

    def _evict(self) -> None:
        """Subtract rows older than the window, then the oldest past ``max_rows``."""
        if self.window is not None and np.isfinite(self.newest):
            cutoff = self.newest - self.window
            for chunk in self._held:
                if chunk.tmin < cutoff:
                    self._drop(chunk, chunk.time < cutoff)
            self._held = deque(chunk for chunk in self._held if len(chunk))
        while self._rows > self.max_rows:
            chunk = self._held[0]
            excess = min(self._rows - self.max_rows, len(chunk))
            old = np.zeros(len(chunk), dtype=bool)
            old[:excess] = True
            self.evicted_rows += excess
            self._drop(chunk, old)
            if not len(chunk):
                self._held.popleft()

    def _drop(self, chunk: _Chunk, old: np.ndarray) -> None:
        if not old.any():
            return
        if len(self.edges):
            gone = _Chunk(chunk.time[old], chunk.value[old], chunk.group[old])
            self.counts -= self._count(gone)
        self._rows -= int(old.sum())
        chunk.keep(~old)

    def _fit_edges(self) -> None:
        """Rebuild automatic edges (and recount) when the window's values no longer suit them."""
        held = [c for c in self._held if len(c)]
        if not held:
            return
        lo = min(c.vmin for c in held)
        hi = max(c.vmax for c in held)
        if len(self.edges):
            first, last = float(self.edges[0]), float(self.edges[-1])
            covered = first <= lo and hi <= last
            coarse = (hi - lo) < _SHRINK * (last - first) and hi > lo
            if covered and not coarse:
                return
        self.edges = nice_edges(lo, hi, self.bins)
        self.counts[:] = 0
        for chunk in held:
            self.counts += self._count(chunk)


class HistogramChart(Chart):
    """One bar per bin of :class:`WindowHistogram`; with ``color``, overlaid per group.

    Each frame sends the counts of a group only when they changed, and the
    edges (bar positions and widths) only when they were rebuilt: bytes per
    frame are bounded by the bins times the groups, whatever the rows.
    """

    def __init__(
        self,
        *,
        x: str,
        color: str | None,
        window: float | None,
        bins: int | Sequence[float],
        max_groups: int,
    ) -> None:
        super().__init__()
        self.counts = WindowHistogram(
            x=x, color=color, window=window, bins=bins, max_groups=max_groups
        )
        self._sent: list[np.ndarray] = []
        self._sent_edges = np.empty(0)

    @property
    def dropped_rows(self) -> int:
        """Rows of groups past ``max_groups`` and rows over the held-rows limit."""
        return self.counts.dropped_rows + self.counts.evicted_rows

    def layout(self) -> dict[str, Any]:
        """Bars that touch, overlaid per group, counts on y."""
        return {
            "xaxis": {"title": {"text": self.counts.x}},
            "yaxis": {"title": {"text": "count"}},
            "barmode": "overlay",
            "bargap": 0,
        }

    def render(self, source: Source) -> bool:
        """Fold new rows, then send changed counts (and edges when they moved)."""
        self.counts.ingest(source)
        table = self.counts.histogram()
        changed = self._add_traces(len(table))
        edges = self.counts.edges
        moved = self._first or not np.array_equal(edges, self._sent_edges)
        with self.figure.batch_update():
            for index, row in enumerate(table):
                fresh = index >= len(self._sent)
                if not (moved or fresh) and np.array_equal(row, self._sent[index]):
                    continue
                trace = self.figure.data[index]
                trace.y = row.astype(np.float64)
                if moved or fresh:
                    trace.x = edges[:-1].copy()
                    trace.width = np.diff(edges)
            self.note = self._limit_note()
            changed |= self._draw_note()
        self._sent = [row.copy() for row in table]
        self._sent_edges = edges.copy()
        changed |= self._first
        self._first = False
        return changed

    def _add_traces(self, count: int) -> bool:
        grouped = bool(self.counts.color)
        return self._add_group_traces(
            count,
            list(self.counts.groups) if grouped else [self.counts.x],
            grouped,
            lambda name, colour: go.Bar(
                x=[],
                y=[],
                offset=0,
                name=name,
                marker={"color": colour, "line": {"width": 0}},
                opacity=0.6 if grouped else 1.0,
                showlegend=grouped,
            ),
        )

    def _limit_note(self) -> str:
        parts = []
        if self.counts.dropped_rows:
            parts.append(
                f"{self.counts.dropped_rows:,} rows over max_groups={self.counts.max_groups}"
            )
        if self.counts.evicted_rows:
            parts.append(
                f"{self.counts.evicted_rows:,} rows left early (over {self.counts.max_rows:,} held)"
            )
        if self.counts.outside:
            parts.append(f"{self.counts.outside:,} outside the bins")
        return "; ".join(parts)

    def snapshot(self) -> tuple[list[SnapshotTrace], dict[str, Any]]:
        """The bins as bars, overlaid per group."""
        edges = self._sent_edges
        widths = np.diff(edges)
        traces = [
            SnapshotTrace(
                name=str(trace.name),
                colour=str(trace.marker.color),
                row=0,
                x=edges[:-1] + widths / 2,
                y=row.astype(np.float64),
                show_legend=bool(trace.showlegend),
                bar_width=widths,
                opacity=float(trace.opacity) if trace.opacity is not None else 1.0,
            )
            for trace, row in zip(self.figure.data, self._sent, strict=False)
            if len(edges)
        ]
        axes: dict[str, Any] = {
            "rows": ["count"],
            "x_range": (float(edges[0]), float(edges[-1])) if len(edges) else None,
        }
        return traces, axes
