"""Min/max decimation: keep each bucket's first, last, lowest and highest point.

A line drawn through those four points per pixel-wide bucket looks the same as
one drawn through every point (spikes survive), while the number of points sent
to the browser stays at ``4 * buckets`` however many rows arrived.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MinMaxBuckets", "decimate_minmax"]


def _representatives(bid: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return per-bucket ids and the indices of the first, last, min-y and max-y points.

    ``y`` must hold no NaN. Ties on y go to the smaller x for the minimum and the
    larger x for the maximum, so folding batches in any order gives the same result.
    Points in x order (a zoomed range read in arrival order) take an O(n) path;
    others are sorted, O(n log n).
    """
    if len(x) > 1 and bool(np.all(x[1:] >= x[:-1])):
        return _representatives_in_order(bid, y)
    return _representatives_by_sorting(bid, x, y)


def _representatives_by_sorting(
    bid: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, ...]:
    """:func:`_representatives` for points in any order."""
    by_x = np.lexsort((x, bid))
    by_y = np.lexsort((x, y, bid))
    sorted_bid = bid[by_x]
    starts = np.flatnonzero(np.r_[True, sorted_bid[1:] != sorted_bid[:-1]])
    ends = np.r_[starts[1:], len(bid)] - 1
    return sorted_bid[starts], by_x[starts], by_x[ends], by_y[starts], by_y[ends]


def decimate_minmax(x: np.ndarray, y: np.ndarray, *, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a series to at most ``4 * buckets`` points, keeping every bucket's extremes.

    The x range is cut into ``buckets`` equal-width buckets; from each bucket the
    points with the smallest x, largest x, smallest y and largest y are kept. The
    kept points stay in their input order. Points whose y is NaN are dropped.
    Cost is O(n) for points in x order, O(n log n) otherwise.

    Args:
        x: Float x values (for time, epoch milliseconds).
        y: Float y values, same length as ``x``.
        buckets: How many buckets to cut the x range into.

    Returns:
        The kept x and y values, as new float64 arrays.

    Raises:
        ValueError: If ``buckets`` is not positive or the lengths differ.
    """
    if buckets < 1:
        raise ValueError("buckets must be positive")
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape:
        raise ValueError("x and y must have the same length")
    keep = ~np.isnan(ys) & ~np.isnan(xs)
    if keep.all():
        index, xk, yk = None, xs, ys
    else:
        index = np.flatnonzero(keep)
        xk, yk = xs[index], ys[index]
    if len(xk) <= 4 * buckets:
        return xk.copy(), yk.copy()
    lo, hi = xk.min(), xk.max()
    width = (hi - lo) / buckets or 1.0
    if bool(np.all(xk[1:] >= xk[:-1])):
        # In x order (a zoomed range): each bucket is a run found by binary search.
        picks = list(_run_extremes(_bucket_starts(xk, lo, width, buckets), yk))
    else:
        bid = np.minimum(((xk - lo) / width).astype(np.int64), buckets - 1)
        _, *picks = _representatives_by_sorting(bid, xk, yk)
    chosen = np.unique(np.concatenate(picks))
    if index is not None:
        chosen = index[chosen]
    return xs[chosen], ys[chosen]


def _bucket_starts(x: np.ndarray, lo: float, width: float, buckets: int) -> np.ndarray:
    """First position of each non-empty bucket of sorted ``x``, O(buckets log n).

    Bucket ids are ``min(int((x - lo) / width), buckets - 1)``, as for unsorted
    points. The boundaries ``lo + k * width`` are searched, then moved where
    rounding put them a value off what that formula gives.
    """
    n = len(x)
    k = np.arange(1, buckets)
    s = np.searchsorted(x, lo + k * width, side="left")

    def bucket(i: np.ndarray) -> np.ndarray:
        ids: np.ndarray = ((x[np.clip(i, 0, n - 1)] - lo) / width).astype(np.int64)
        np.minimum(ids, buckets - 1, out=ids)
        return ids

    while True:
        late = (s < n) & (bucket(s) < k)  # x[s] still belongs below boundary k
        early = (s > 0) & (bucket(s - 1) >= k)  # x[s - 1] already belongs at or above it
        if not (late.any() or early.any()):
            break
        s = np.where(late, np.searchsorted(x, x[np.clip(s, 0, n - 1)], side="right"), s)
        s = np.where(early, np.searchsorted(x, x[np.clip(s - 1, 0, n - 1)], side="left"), s)
    return np.unique(np.r_[0, s[s < n]])


def _run_extremes(starts: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Positions of the first, last, first lowest and last highest point of each run.

    Runs are ``y[starts[i]:starts[i + 1]]``. Few long runs (a zoomed range cut
    into pixel buckets) take one ``argmin``/``argmax`` per run; many short ones
    a vectorized ``reduceat`` pass, cheaper when the runs outnumber ~1/64 of the
    points.
    """
    n = len(y)
    ends = np.r_[starts[1:], n] - 1
    if len(starts) * 64 > n:
        counts = ends - starts + 1
        position = np.arange(n)
        lowest = y == np.repeat(np.minimum.reduceat(y, starts), counts)
        highest = y == np.repeat(np.maximum.reduceat(y, starts), counts)
        low = np.minimum.reduceat(np.where(lowest, position, n), starts)
        high = np.maximum.reduceat(np.where(highest, position, -1), starts)
        return starts, ends, low, high
    low = np.empty(len(starts), dtype=np.int64)
    high = np.empty(len(starts), dtype=np.int64)
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        run = y[a : b + 1]
        low[i] = a + int(run.argmin())
        high[i] = b - int(run[::-1].argmax())
    return starts, ends, low, high


def _representatives_in_order(bid: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`_representatives` for points already in x order (so ``bid`` never falls).

    Each bucket is then one run of positions (see :func:`_run_extremes`): the
    same picks as sorting would make.
    """
    starts = np.flatnonzero(np.r_[True, bid[1:] != bid[:-1]])
    return (bid[starts], *_run_extremes(starts, y))


class MinMaxBuckets:
    """Incremental min/max decimation over buckets fixed in x (usually time).

    Bucket ``k`` covers ``[k * width, (k + 1) * width)``. Because buckets never
    move, a batch of new points only touches the buckets it falls in, so adding
    costs O(batch log batch) and reading the decimated points costs
    O(``capacity``), whatever the number of points ever added.

    Only the newest ``capacity`` buckets are kept (a ring indexed by bucket id
    modulo capacity): a point older than that is dropped and counted in
    ``dropped``. With ``grow=True`` the buckets instead double in width until the
    whole span fits (for plots without a time window).

    Args:
        width: Bucket width in x units; must be positive.
        capacity: Number of buckets kept.
        grow: Widen buckets instead of dropping old ones.

    Raises:
        ValueError: If ``width`` or ``capacity`` is not positive.
    """

    def __init__(self, width: float, *, capacity: int, grow: bool = False) -> None:
        if not width > 0 or capacity < 1:
            raise ValueError("width and capacity must be positive")
        self.width = float(width)
        self.capacity = capacity
        self.grow = grow
        self.dropped = 0
        self.count = 0
        self._hi = -(2**62)
        self._lo = -(2**62)
        self._min_id = 2**62
        self._id = np.full(capacity, -(2**62), dtype=np.int64)
        # Columns: first x, first y, last x, last y, min x, min y, max x, max y.
        self._pts = np.full((capacity, 8), np.nan)
        self._n = np.zeros(capacity, dtype=np.int64)

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fold a batch of points (float64, no NaN in ``y``) into the buckets."""
        if len(x) == 0:
            return
        bid = np.floor(x / self.width).astype(np.int64)
        top = int(bid.max())
        bottom = min(self._min_id, int(bid.min()))
        if self.grow and top - bottom >= self.capacity - 1:
            self._coarsen(x, y)
            return
        self._min_id = bottom
        if top > self._hi:
            self._advance(top)
        fresh = bid > self._hi - self.capacity
        fresh &= bid >= self._lo
        self.dropped += int(len(bid) - fresh.sum())
        if not fresh.all():
            bid, x, y = bid[fresh], x[fresh], y[fresh]
            if len(bid) == 0:
                return
        self.count += len(bid)
        ids, first, last, low, high = _representatives(bid, x, y)
        new = np.column_stack(
            (x[first], y[first], x[last], y[last], x[low], y[low], x[high], y[high])
        )
        counts = np.bincount(np.searchsorted(ids, bid), minlength=len(ids))
        slots = ids % self.capacity
        old = self._pts[slots]
        held = self._id[slots] == ids
        old[~held] = new[~held]
        take_new = np.column_stack(
            (
                new[:, 0] < old[:, 0],
                new[:, 2] >= old[:, 2],
                (new[:, 5] < old[:, 5]) | ((new[:, 5] == old[:, 5]) & (new[:, 4] < old[:, 4])),
                (new[:, 7] > old[:, 7]) | ((new[:, 7] == old[:, 7]) & (new[:, 6] > old[:, 6])),
            )
        )
        pick = np.repeat(take_new, 2, axis=1) | ~held[:, None]
        self._pts[slots] = np.where(pick, new, old)
        self._n[slots] = np.where(held, self._n[slots], 0) + counts
        self._id[slots] = ids

    def _advance(self, top: int) -> None:
        """Make ``top`` the newest bucket, freeing the slots it reuses."""
        reused = np.arange(max(self._hi + 1, top - self.capacity + 1), top + 1)
        slots = reused % self.capacity
        self.count -= int(self._n[slots][self._id[slots] > -(2**62)].sum())
        self._id[slots] = -(2**62)
        self._n[slots] = 0
        self._hi = top

    def _coarsen(self, x: np.ndarray, y: np.ndarray) -> None:
        """Double the bucket width until everything held plus the batch fits."""
        kept_x, kept_y = self.points()
        all_x = np.concatenate((kept_x, x))
        all_y = np.concatenate((kept_y, y))
        count = self.count + len(x)
        span = all_x.max() - all_x.min()
        while span / self.width >= self.capacity - 1:
            self.width *= 2
        self._id[:] = -(2**62)
        self._n[:] = 0
        self._hi = self._lo = -(2**62)
        self._min_id = 2**62
        self.count = 0
        self.add(all_x, all_y)
        # Representatives stand in for many rows; keep the true row count.
        self.count = count

    def evict(self, before: float) -> None:
        """Forget buckets that end before ``before``; later points in the edge bucket stay."""
        lo = int(np.floor(before / self.width))
        if lo <= self._lo:
            return
        stale = (self._id < lo) & (self._id > -(2**62))
        self.count -= int(self._n[stale].sum())
        self._id[stale] = -(2**62)
        self._n[stale] = 0
        self._lo = lo

    def points(self, *, since: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
        """Return the decimated points in x order, at most 4 per bucket, x >= ``since``."""
        ids = np.arange(max(self._lo, self._hi - self.capacity + 1), self._hi + 1)
        slots = ids % self.capacity
        held = slots[self._id[slots] == ids]
        if len(held) == 0:
            return np.empty(0), np.empty(0)
        pts = self._pts[held].reshape(-1, 4, 2)
        order = np.argsort(pts[:, :, 0], axis=1, kind="stable")
        pts = np.take_along_axis(pts, order[:, :, None], axis=1)
        dup = np.zeros(pts.shape[:2], dtype=bool)
        dup[:, 1:] = (pts[:, 1:, 0] == pts[:, :-1, 0]) & (pts[:, 1:, 1] == pts[:, :-1, 1])
        flat = pts[~dup]
        flat = flat[flat[:, 0] >= since]
        return flat[:, 0].copy(), flat[:, 1].copy()

    def __len__(self) -> int:
        return self.count
