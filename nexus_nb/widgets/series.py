"""The points of one plot trace: exact while small, min/max-decimated once large."""

from __future__ import annotations

import numpy as np

from nexus_nb.widgets.decimate import MinMaxBuckets

__all__ = ["TraceSeries"]


class TraceSeries:
    """The bounded (x, y) state of one trace, updated incrementally from new rows.

    Points are kept exactly while there are at most ``max_points`` of them in the
    window. Beyond that the series switches, for good, to :class:`MinMaxBuckets`
    of ``window / (max_points // 4 - 1)`` each (pixel-sized on a plot as wide as
    the window), so memory, CPU per frame and the arrays sent stay bounded by
    ``max_points`` whatever the ingest rate. Without a window the buckets widen
    as the span grows.

    Args:
        max_points: Most points sent per trace; ``None`` never decimates.
        window: Width of the visible x range (epoch ms for time), or ``None``.

    Raises:
        ValueError: If ``max_points`` is below 8.
    """

    def __init__(self, *, max_points: int | None, window: float | None) -> None:
        if max_points is not None and max_points < 8:
            raise ValueError("max_points must be at least 8")
        self.max_points = max_points
        self.window = window
        self.dirty = False
        self._x = np.empty(0)
        self._y = np.empty(0)
        self._buckets: MinMaxBuckets | None = None
        self._since = -np.inf

    @property
    def decimated(self) -> bool:
        """Whether the series has switched to min/max buckets."""
        return self._buckets is not None

    def __len__(self) -> int:
        """Return the number of rows represented (not the number of points sent)."""
        return len(self._buckets) if self._buckets is not None else len(self._x)

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add new points (float64, no NaN in ``y``), in any order."""
        if len(x) == 0:
            return
        self.dirty = True
        if self._buckets is not None:
            self._buckets.add(x, y)
            return
        self._x = np.concatenate((self._x, x))
        self._y = np.concatenate((self._y, y))
        if self.max_points is not None and len(self._x) > self.max_points:
            self._switch_to_buckets()

    def _switch_to_buckets(self) -> None:
        assert self.max_points is not None
        per_window = max(1, self.max_points // 4 - 1)
        if self.window is not None:
            width = self.window / per_window
            self._buckets = MinMaxBuckets(width, capacity=per_window + 2)
        else:
            span = float(self._x.max() - self._x.min()) or 1.0
            # Start at half capacity so growth widens buckets rarely.
            self._buckets = MinMaxBuckets(
                span / (per_window // 2 or 1), capacity=per_window, grow=True
            )
        self._buckets.add(self._x, self._y)
        self._x = self._y = np.empty(0)

    def evict(self, before: float) -> None:
        """Drop points with x older than ``before``."""
        if before <= self._since:
            return
        self._since = before
        if self._buckets is not None:
            count = len(self._buckets)
            self._buckets.evict(before)
            self.dirty |= len(self._buckets) != count
            return
        keep = self._x >= before
        if not keep.all():
            self._x, self._y = self._x[keep], self._y[keep]
            self.dirty = True

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the points to draw, in x order, and mark the series clean."""
        self.dirty = False
        if self._buckets is not None:
            return self._buckets.points(since=self._since)
        if len(self._x) > 1 and np.any(self._x[1:] < self._x[:-1]):
            order = np.argsort(self._x, kind="stable")
            self._x, self._y = self._x[order], self._y[order]
        return self._x.copy(), self._y.copy()
