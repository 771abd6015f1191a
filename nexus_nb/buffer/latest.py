"""The newest row per group of a buffer's events, kept up to date and bounded."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from nexus_nb.buffer.aggregate import Aggregate, Rows
from nexus_nb.buffer.guard import locked

__all__ = ["Latest"]


class Latest(Aggregate):
    """The last-arrived row of each group (``groupby(by).tail(1)``), live.

    Made by :meth:`RingBuffer.latest`; the buffer folds each stored batch into it
    inside its append path (O(rows in the batch)). Rows whose group value is
    missing are skipped and counted in :attr:`ungrouped`. At most ``max_groups``
    groups are held: a new group evicts the one updated longest ago (counted in
    :attr:`evicted`). Rows come out ordered by when their group was last updated,
    oldest first, so the newest update is the last row.
    """

    def __init__(self, buffer: Rows, *, by: str | Sequence[str], max_groups: int) -> None:
        if max_groups < 1:
            raise ValueError(f"max_groups must be >= 1, got {max_groups}")
        self.by: list[str] = [by] if isinstance(by, str) else list(by)
        if not self.by:
            raise ValueError("latest needs at least one group column")
        self.max_groups = int(max_groups)
        super().__init__(buffer)
        self._columns: list[str] = ["timestamp", *self.by]
        self._rows: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()

    def catch_up(self, buffer: Rows) -> None:
        """Fold the buffer's rows this view has not seen yet (the buffer calls it)."""
        for name in buffer.columns:
            if name not in self._columns:
                self._columns.append(name)
        first, data = buffer.read(self._columns, start=self._seen)
        self._missed += first - self._seen
        count = len(data["timestamp"])
        self._seen = first + count
        if not count:
            return
        keep = np.ones(count, dtype=np.bool_)
        for name in self.by:
            keep &= ~pd.isna(data[name])
        self._ungrouped += int(count - keep.sum())
        index = np.flatnonzero(keep)
        if not len(index):
            return
        keys = pd.DataFrame({name: data[name][index] for name in self.by})
        last = index[~keys.duplicated(keep="last").to_numpy()]
        for i in last:
            key = tuple(data[name][i] for name in self.by)
            self._rows.pop(key, None)
            self._rows[key] = {name: values[i] for name, values in data.items()}
        while len(self._rows) > self.max_groups:
            self._rows.popitem(last=False)
            self._evicted += 1
        self._version += 1
        self._issued += len(self._rows)

    @property
    @locked
    def columns(self) -> list[str]:
        """The buffer's columns, ``timestamp`` first."""
        self._sync()
        return list(self._columns)

    @property
    @locked
    def evicted(self) -> int:
        """Groups dropped to stay within ``max_groups``."""
        self._sync()
        return self._evicted

    @locked
    def __len__(self) -> int:
        self._sync()
        return len(self._rows)

    @locked
    def __repr__(self) -> str:
        return f"Latest(by={self.by}, groups={len(self)}, evicted={self._evicted})"

    @locked
    def read(
        self, columns: Sequence[str], *, start: int = 0
    ) -> tuple[int, dict[str, npt.NDArray[Any]]]:
        """Return the held rows as plotting arrays (the buffer's conventions).

        Each change re-issues every held row: they have arrival indexes
        ``appended - len(self)`` onwards, and ``start`` only trims that range.
        """
        self._sync()
        rows = list(self._rows.values())
        first = max(start, self._issued - len(rows))
        rows = rows[len(rows) - (self._issued - first) :]
        out: dict[str, npt.NDArray[Any]] = {}
        for name in columns:
            values = [row.get(name, np.nan) for row in rows]
            if name == "timestamp":
                out[name] = np.array(values, dtype=np.int64)
            elif any(isinstance(v, str) for v in values):
                out[name] = np.array(values, dtype=object)
            else:
                out[name] = np.array(values, dtype=np.float64)
        return first, out

    @locked
    def to_dataframe(self, *, last: int | str | None = None) -> pd.DataFrame:
        """Return the held rows, least recently updated first; ``last`` keeps the last N."""
        _, data = self.read(self._columns)
        frame = pd.DataFrame(data)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ns", utc=True)
        return self._last(frame, last)
