"""A live, bounded time-bucket aggregate of a buffer's events, per group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from nexus_nb.buffer.aggregate import Aggregate, Rows
from nexus_nb.buffer.guard import locked

__all__ = ["FUNCTIONS", "Resample"]

FUNCTIONS = ("mean", "sum", "count", "min", "max", "first", "last", "p50", "p90", "p95", "p99")
"""Aggregate names accepted in ``agg``; ``pNN`` is the exact NN-th percentile (linear)."""

_QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}

Key = tuple[int, tuple[Any, ...]]


class _Cell:
    """Running state of one column in one (bucket, group)."""

    __slots__ = ("count", "first", "last", "max", "min", "sum", "values")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = np.nan
        self.max = np.nan
        self.first = np.nan
        self.last = np.nan
        self.values: list[npt.NDArray[np.float64]] = []

    def fold(self, values: npt.NDArray[np.float64], keep_values: bool) -> None:
        values = values[~np.isnan(values)]
        if not len(values):
            return
        if not self.count:
            self.first = float(values[0])
            self.min, self.max = float(values.min()), float(values.max())
        else:
            self.min = min(self.min, float(values.min()))
            self.max = max(self.max, float(values.max()))
        self.last = float(values[-1])
        self.count += len(values)
        self.sum += float(values.sum())
        if keep_values:
            self.values.append(values)

    def value(self, fn: str) -> float:
        if fn == "count":
            return float(self.count)
        if fn == "sum":
            return self.sum
        if fn == "mean":
            return self.sum / self.count if self.count else np.nan
        if fn in _QUANTILES:
            if not self.count:
                return np.nan
            if len(self.values) > 1:
                self.values = [np.concatenate(self.values)]
            return float(np.quantile(self.values[0], _QUANTILES[fn]))
        return float(getattr(self, fn))


class Resample(Aggregate):
    """One row per (time bucket, group), kept up to date as the buffer receives events.

    Made by :meth:`RingBuffer.resample`. The buffer folds each batch of stored
    rows into the aggregate (vectorised, O(rows in the batch)), inside its own
    append path, so a lock around the buffer covers it too. Buckets start at
    multiples of ``every`` since the epoch (UTC), as ``pd.Grouper(freq=every)``
    does for spans that divide a day.

    Values: numbers and booleans count (booleans as 0/1). A column the buffer
    turned to text (a type change) still counts the numbers it holds as their
    JSON text; other text and missing values are skipped, as pandas skips NaN.
    Percentiles are exact (linear interpolation, ``numpy.quantile``): a cell
    keeps its values (only when a percentile is asked for), so memory grows with
    the events in the held buckets, at most ``max_buckets`` times their rate.
    Rows whose group value is missing are skipped and counted in
    :attr:`ungrouped`, as ``groupby(dropna=True)`` drops them.

    Bounds: at most ``max_buckets`` bucket starts are held; a newer bucket evicts
    the oldest (counted in :attr:`evicted`, in buckets). An event older than
    every held bucket once one was evicted is counted in :attr:`late` and not
    folded; one whose bucket is held updates it. Lateness is judged per stored
    batch (the buffer stores staged events in batches of up to 1024, and on any
    read): an old event in the same batch as the event that evicts its bucket
    counts as evicted with that bucket, not as late. At most ``max_groups`` distinct
    groups; events of further groups are counted in :attr:`overflow`. Rows the
    buffer evicted before the aggregate saw them (a single batch larger than
    ``maxlen``) are counted in :attr:`missed`.
    """

    def __init__(
        self,
        buffer: Rows,
        every: str | pd.Timedelta,
        *,
        by: str | Sequence[str] | None,
        agg: Mapping[str, str | Sequence[str]],
        max_buckets: int,
        max_groups: int,
    ) -> None:
        span = pd.Timedelta(every)
        if span <= pd.Timedelta(0):
            raise ValueError(f"every must be a positive duration, got {every!r}")
        if max_buckets < 1 or max_groups < 1:
            raise ValueError("max_buckets and max_groups must be >= 1")
        self._every = int(span.value)
        self.by: list[str] = [] if by is None else [by] if isinstance(by, str) else list(by)
        self.agg: dict[str, list[str]] = {}
        for column, fns in agg.items():
            names = [fns] if isinstance(fns, str) else list(fns)
            for fn in names:
                if fn not in FUNCTIONS:
                    raise ValueError(f"unknown aggregate {fn!r}; known: {', '.join(FUNCTIONS)}")
            self.agg[column] = names
        self._keep_values = any(fn in _QUANTILES for fns in self.agg.values() for fn in fns)
        self.max_buckets = int(max_buckets)
        self.max_groups = int(max_groups)
        super().__init__(buffer)
        self._cells: dict[Key, tuple[list[int], dict[str, _Cell]]] = {}
        self._buckets: dict[int, list[Key]] = {}
        self._groups: set[tuple[Any, ...]] = set()
        self._floor = np.iinfo(np.int64).min
        self._late = 0
        self._overflow = 0

    # -- folding (called by the buffer) ------------------------------------------------

    def catch_up(self, buffer: Rows) -> None:
        """Fold the buffer's rows this aggregate has not seen yet (the buffer calls it)."""
        first, data = buffer.read(["timestamp", *self.by, *self.agg], start=self._seen)
        self._missed += first - self._seen
        times = data["timestamp"]
        self._seen = first + len(times)
        if len(times):
            self.fold(times, [data[c] for c in self.by], {c: data[c] for c in self.agg})

    def fold(
        self,
        times: npt.NDArray[np.int64],
        keys: list[npt.NDArray[Any]],
        values: Mapping[str, npt.NDArray[Any]],
    ) -> None:
        """Fold one batch of rows in arrival order."""
        buckets = times - times % self._every
        keep = buckets >= self._floor
        self._late += int((~keep).sum())
        for key in keys:
            missing = pd.isna(key)
            self._ungrouped += int((missing & keep).sum())
            keep &= ~missing
        if not keep.any():
            return
        index = np.flatnonzero(keep)
        # One int64 code per (bucket, group), from each key column's own factorization.
        bucket_codes, bucket_values = pd.factorize(buckets[index])
        combined = bucket_codes.astype(np.int64)
        levels: list[npt.NDArray[Any]] = []
        for key in keys:
            key_codes, key_values = pd.factorize(key[index])
            combined = combined * max(len(key_values), 1) + key_codes
            levels.append(np.asarray(key_values, dtype=object))
        order = np.argsort(combined, kind="stable")
        ordered = combined[order]
        bounds = np.flatnonzero(np.diff(ordered)) + 1
        numeric = {c: _as_float(v)[index][order] for c, v in values.items()}
        for lo, hi in zip([0, *bounds], [*bounds, len(order)], strict=True):
            code = int(ordered[lo])
            group_values = []
            for level in reversed(levels):
                code, at = divmod(code, max(len(level), 1))
                group_values.append(_plain(level[at]))
            bucket = bucket_values[code]
            group_values.reverse()
            group = tuple(group_values)
            cell_key = (int(bucket), group)
            entry = self._cells.get(cell_key)
            if entry is None:
                if group not in self._groups:
                    if len(self._groups) >= self.max_groups:
                        self._overflow += hi - lo
                        continue
                    self._groups.add(group)
                entry = ([0], {c: _Cell() for c in self.agg})
                self._cells[cell_key] = entry
                self._buckets.setdefault(int(bucket), []).append(cell_key)
            entry[0][0] += hi - lo
            for column, cell in entry[1].items():
                cell.fold(numeric[column][lo:hi], self._keep_values)
        self._evict()
        self._version += 1
        self._issued += len(self._cells)

    def _evict(self) -> None:
        while len(self._buckets) > self.max_buckets:
            oldest = min(self._buckets)
            for key in self._buckets.pop(oldest):
                del self._cells[key]
            self._evicted += 1
            self._floor = max(self._floor, oldest + self._every)

    # -- reading ------------------------------------------------------------------------

    @property
    @locked
    def columns(self) -> list[str]:
        """Column names: ``timestamp``, the group columns, ``<column>_<fn>``..., ``count``."""
        names = ["timestamp", *self.by]
        for column, fns in self.agg.items():
            names.extend(f"{column}_{fn}" for fn in fns)
        return [*names, "count"] if "count" not in names else names

    @property
    @locked
    def late(self) -> int:
        """Events older than every held bucket (after an eviction): not folded."""
        self._sync()
        return self._late

    @property
    @locked
    def evicted(self) -> int:
        """Buckets dropped to stay within ``max_buckets``."""
        self._sync()
        return self._evicted

    @property
    @locked
    def overflow(self) -> int:
        """Events of groups beyond ``max_groups``: not folded."""
        self._sync()
        return self._overflow

    @locked
    def __len__(self) -> int:
        self._sync()
        return len(self._cells)

    @locked
    def __repr__(self) -> str:
        return (
            f"Resample(every={pd.Timedelta(self._every)}, by={self.by}, rows={len(self)}, "
            f"late={self._late}, evicted={self._evicted})"
        )

    def _sorted_keys(self) -> list[Key]:
        return sorted(self._cells, key=lambda k: (k[0], tuple(map(str, k[1]))))

    @locked
    def read(
        self, columns: Sequence[str], *, start: int = 0
    ) -> tuple[int, dict[str, npt.NDArray[Any]]]:
        """Return the held rows (sorted by bucket, then group) as plotting arrays.

        Held rows change in place, so each change re-issues them all: the rows
        returned have arrival indexes ``appended - len(self)`` onwards, and
        ``start`` only trims that range.
        """
        self._sync()
        keys = self._sorted_keys()
        first = max(start, self._issued - len(keys))
        keys = keys[len(keys) - (self._issued - first) :]
        out: dict[str, npt.NDArray[Any]] = {}
        for name in columns:
            out[name] = self._column(name, keys)
        return first, out

    def _column(self, name: str, keys: list[Key]) -> npt.NDArray[Any]:
        if name == "timestamp":
            return np.array([k[0] for k in keys], dtype=np.int64)
        if name in self.by:
            i = self.by.index(name)
            values = [k[1][i] for k in keys]
            if all(isinstance(v, str) for v in values):
                return np.array(values, dtype=object)
            return np.array(values, dtype=np.float64)
        if name == "count":
            return np.array([self._cells[k][0][0] for k in keys], dtype=np.float64)
        for column, fns in self.agg.items():
            for fn in fns:
                if name == f"{column}_{fn}":
                    return np.array([self._cells[k][1][column].value(fn) for k in keys])
        return np.full(len(keys), np.nan)

    @locked
    def to_dataframe(self, *, last: int | str | None = None) -> pd.DataFrame:
        """Return the held rows sorted by bucket then group; ``last`` keeps the last N rows."""
        _, data = self.read(self.columns)
        frame = pd.DataFrame(data)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ns", utc=True)
        for name in self.columns:
            if name.endswith("_count") or name == "count":
                frame[name] = frame[name].astype(np.int64)
        return self._last(frame, last)


def _plain(value: Any) -> Any:
    """A group value as a plain Python scalar (numpy floats compare and hash the same)."""
    return value.item() if isinstance(value, np.generic) else value


def _as_float(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    if values.dtype == object:  # a column turned text keeps numbers as their JSON text
        return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)
    return values.astype(np.float64, copy=False)
