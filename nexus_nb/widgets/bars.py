"""Bars of the newest value per category (``LivePlot(kind="bar")``), updated in place."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from nexus_nb.exceptions import SchemaError
from nexus_nb.widgets.chart import Chart, epoch_ms, group_colour
from nexus_nb.widgets.snapshot import SnapshotTrace
from nexus_nb.widgets.source import Source
from nexus_nb.widgets.traces import group_codes

__all__ = ["BarChart", "NewestValues"]


class NewestValues:
    """The newest non-missing ``y`` per category of ``x`` (and ``color`` group), kept bounded.

    What ``frame.groupby([x, color]).last()[y]`` gives over the rows in arrival
    order, folded incrementally: each :meth:`ingest` reads only the rows
    appended since the last one (a source with ``rewrites = True`` is re-read
    whole: its rows changed in place). Categories keep the order they were
    first seen in. At most ``max_categories`` categories and ``max_groups``
    groups are held; rows of later ones are dropped and counted in
    :attr:`dropped_rows`. Memory is O(categories x groups), never O(rows).

    Args:
        x: The category column (text or numbers; missing values form
            ``"(missing)"``).
        y: The value column.
        color: The group column, or ``None`` (or ``x``) for one value per category.
        window: With a value, a category whose newest value is older than this
            (epoch ms for time) before the newest row's time is not shown.
        max_categories: Most categories held.
        max_groups: Most ``color`` groups held.
    """

    def __init__(
        self,
        *,
        x: str,
        y: str,
        color: str | None,
        window: float | None,
        max_categories: int,
        max_groups: int,
    ) -> None:
        self.x = x
        self.y = y
        self.color = color if color != x else None
        self.window = window
        self.max_categories = max_categories
        self.max_groups = max_groups
        self.categories: dict[str, int] = {}
        self.groups: dict[str, int] = {} if self.color else {"": 0}
        self.dropped_rows = 0
        self.newest = -np.inf
        self._values = np.full((0, 1), np.nan)
        self._times = np.full((0, 1), np.nan)
        self._seen = 0

    def ingest(self, source: Source) -> bool:
        """Fold the rows appended to ``source`` since the last call; return whether any counted.

        Raises:
            SchemaError: If the ``y`` column holds text.
        """
        start = self._seen
        if getattr(source, "rewrites", False):
            start = 0
            self._values[:] = np.nan
            self._times[:] = np.nan
            self.dropped_rows = 0  # Every held row comes again: count them afresh.
            self.newest = -np.inf
        names = list(dict.fromkeys(["timestamp", self.x, self.y, *filter(None, [self.color])]))
        first, data = source.read(names, start=start)
        values = data[self.y]
        self._seen = first + len(values)
        if len(values) == 0:
            return False
        if values.dtype == object:
            raise SchemaError(f"y column {self.y!r} holds text, not numbers")
        times = epoch_ms(data["timestamp"])
        if not np.all(np.isnan(times)):
            self.newest = max(self.newest, float(np.nanmax(times)))
        cats = group_codes(data[self.x], self.categories, self.max_categories)
        groups = (
            group_codes(data[self.color], self.groups, self.max_groups)
            if self.color
            else np.zeros(len(cats), dtype=np.int64)
        )
        overflow = (cats < 0) | (groups < 0)
        self.dropped_rows += int(overflow.sum())
        keep = np.flatnonzero(~overflow & ~np.isnan(values))
        self._grow()
        if len(keep) == 0:
            return False
        cells = cats[keep] * len(self.groups) + groups[keep]
        # The last row of each cell, by arrival: first of the reversed order.
        cell, first_reversed = np.unique(cells[::-1], return_index=True)
        rows = keep[len(keep) - 1 - first_reversed]
        cat_of, group_of = np.divmod(cell, len(self.groups))
        self._values[cat_of, group_of] = values[rows]
        self._times[cat_of, group_of] = times[rows]
        return True

    def _grow(self) -> None:
        """Give new categories and groups a row and a column of empty cells."""
        shape = (len(self.categories), len(self.groups))
        if self._values.shape == shape:
            return
        values = np.full(shape, np.nan)
        times = np.full(shape, np.nan)
        old = self._values.shape
        values[: old[0], : old[1]] = self._values
        times[: old[0], : old[1]] = self._times
        self._values, self._times = values, times

    def table(self) -> np.ndarray:
        """The values to show, categories x groups: NaN where none (or only stale ones)."""
        values = self._values.copy()
        if self.window is not None and np.isfinite(self.newest):
            values[self._times < self.newest - self.window] = np.nan
        return values


class BarChart(Chart):
    """One bar per category of ``x``: its newest ``y`` (see :class:`NewestValues`).

    Without ``color`` (or with ``color`` equal to ``x``, each category its own
    colour) it is a single bar trace; with another ``color`` column, one trace
    per group, bars side by side. The category axis keeps first-seen order.
    Each frame sends the heights only when they changed, and the categories
    only when one appeared or went stale: bytes per frame are bounded by
    ``max_categories`` x ``max_groups``.
    """

    def __init__(
        self,
        *,
        x: str,
        y: str,
        color: str | None,
        window: float | None,
        max_categories: int,
        max_groups: int,
    ) -> None:
        super().__init__()
        self.values = NewestValues(
            x=x,
            y=y,
            color=color,
            window=window,
            max_categories=max_categories,
            max_groups=max_groups,
        )
        self.per_category_colour = color is not None and color == x
        self._shown: list[tuple[list[str], np.ndarray]] = []
        self._axis: list[str] = []

    @property
    def dropped_rows(self) -> int:
        """Rows of categories or groups past their limits."""
        return self.values.dropped_rows

    def layout(self) -> dict[str, Any]:
        """A category x axis and bars side by side."""
        return {
            "xaxis": {"type": "category", "categoryorder": "array"},
            "yaxis": {"title": {"text": self.values.y}},
            "barmode": "group",
        }

    def render(self, source: Source) -> bool:
        """Fold new rows, then send what changed: heights, categories, new traces."""
        self.values.ingest(source)
        table = self.values.table()
        names = list(self.values.categories)
        shown = [
            ([names[i] for i in np.flatnonzero(~np.isnan(column))], column[~np.isnan(column)])
            for column in table.T
        ]
        changed = self._add_traces(len(shown))
        axis = [name for name, row in zip(names, table, strict=True) if not np.isnan(row).all()]
        with self.figure.batch_update():
            for index, (cats, heights) in enumerate(shown):
                if not self._first and index < len(self._shown):
                    old_cats, old_heights = self._shown[index]
                    if old_cats == cats and np.array_equal(old_heights, heights):
                        continue
                trace = self.figure.data[index]
                trace.x = cats
                trace.y = heights
                if self.per_category_colour:
                    trace.marker.color = [group_colour(self.palette, c) for c in cats]
            if axis != self._axis or self._first:
                self._axis = axis
                self.figure.layout.xaxis.categoryarray = axis
                changed = True
            self.note = self._limit_note()
            changed |= self._draw_note()
        self._shown = shown
        changed |= self._first
        self._first = False
        return changed

    def _add_traces(self, count: int) -> bool:
        """Add a bar trace for each group that has none yet; return whether any was added."""
        grouped = bool(self.values.color)
        return self._add_group_traces(
            count,
            list(self.values.groups) if grouped else [self.values.y],
            grouped,
            lambda name, colour: go.Bar(
                x=[], y=[], name=name, marker={"color": colour}, showlegend=grouped
            ),
        )

    def _limit_note(self) -> str:
        dropped = self.values.dropped_rows
        if not dropped:
            return ""
        return f"{dropped:,} rows dropped: over max_categories={self.values.max_categories}" + (
            f" or max_groups={self.values.max_groups}" if self.values.color else ""
        )

    def snapshot(self) -> tuple[list[SnapshotTrace], dict[str, Any]]:
        """The bars at their category positions (side by side per group)."""
        slot = {name: i for i, name in enumerate(self._axis)}
        width = 0.8 / max(len(self._shown), 1)
        traces: list[SnapshotTrace] = []
        for index, (cats, heights) in enumerate(self._shown):
            trace = self.figure.data[index]
            centres = np.array([slot[c] for c in cats], dtype=float) - 0.4 + width * (index + 0.5)
            if self.per_category_colour:
                # Each bar its category's colour; the axis labels name them.
                traces.extend(
                    SnapshotTrace(
                        name=cat,
                        colour=group_colour(self.palette, cat),
                        row=0,
                        x=centres[i : i + 1],
                        y=heights[i : i + 1],
                        show_legend=False,
                        bar_width=np.array([width]),
                    )
                    for i, cat in enumerate(cats)
                )
                continue
            traces.append(
                SnapshotTrace(
                    name=str(trace.name),
                    colour=str(trace.marker.color),
                    row=0,
                    x=centres,
                    y=heights,
                    show_legend=bool(trace.showlegend),
                    bar_width=np.full(len(cats), width),
                )
            )
        axes: dict[str, Any] = {
            "rows": [self.values.y],
            "x_range": (-0.5, max(len(self._axis), 1) - 0.5),
            "x_ticks": [(float(i), name) for i, name in enumerate(self._axis)],
        }
        return traces, axes
