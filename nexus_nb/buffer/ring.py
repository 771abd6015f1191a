"""A bounded columnar ring buffer of one channel's events."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from nexus_nb.buffer.gap import GapLog
from nexus_nb.buffer.guard import locked
from nexus_nb.buffer.latest import Latest
from nexus_nb.buffer.resample import Resample
from nexus_nb.columnar.column import Segments
from nexus_nb.columnar.export import arrow_to_polars, write_csv, write_parquet
from nexus_nb.columnar.flatten import Block, flatten_or_reject, flatten_run, runs
from nexus_nb.columnar.table import Row, Table
from nexus_nb.protocol import EventColumns, as_messages

__all__ = ["RingBuffer"]

_View = TypeVar("_View", Resample, Latest)

_FIRST_CAPACITY = 1024
_PENDING_ROWS = 1024


class RingBuffer:
    """Keep the latest events of a channel in numpy columns, bounded in rows and time.

    Each event message (envelope + ``data``) becomes one row, flattened by
    :func:`nexus_nb.columnar.flatten.flatten` (``timestamp`` is event time, ``channel``,
    then the data's fields in first-seen order; see that function for nesting,
    lists and nulls, and :mod:`nexus_nb.columnar.column` for how a field whose type
    changes is stored and counted in :attr:`type_changes`). Rows stay in arrival
    order; each has an arrival index (0 for the first event ever appended).

    Appended messages are staged (up to 1024, held as given) and flattened into
    the columns a batch at a time; every read, counters included, moves them
    first. Memory: ~32 B per metric-shaped row (capacity doubles up to
    ``maxlen``), plus the text dictionary, kept under ``2 * maxlen + 1024``
    labels per column. Safe to share between threads: every public method holds
    :attr:`lock` (one writer, such as a stream's reader thread, and any readers).

    Args:
        channel: Channel name, used for rows whose message carries none.
        maxlen: Most rows kept (default 100,000, ~32 B per metric-shaped row).
            On overflow the oldest row is evicted and counted in :attr:`evicted`.
        window: Keep only rows whose event time is within this span of the newest
            event time seen: a row is evicted once ``timestamp <= newest - window``
            (the window is ``(newest - window, newest]``, as in pandas ``rolling``).
            A string is read by :class:`pandas.Timedelta` (``"10min"``), a number
            is seconds, ``None`` (default) keeps rows until ``maxlen`` pushes them
            out. Eviction is from the oldest arrival: a late event (older than rows
            that arrived before it) leaves when it reaches the front.

    Raises:
        ValueError: ``maxlen < 1`` or ``window`` is not positive.
    """

    def __init__(
        self,
        channel: str = "",
        *,
        maxlen: int = 100_000,
        window: str | float | pd.Timedelta | None = None,
    ) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self.channel = channel
        self._maxlen = int(maxlen)
        self._window = None if window is None else _to_timedelta(window)
        if self._window is not None and self._window <= pd.Timedelta(0):
            raise ValueError(f"window must be positive, got {window!r}")
        self._window_ns = None if self._window is None else int(self._window.value)
        self._table = Table(min(self._maxlen, _FIRST_CAPACITY))
        self._head = 0
        self._size = 0
        self._newest = np.iinfo(np.int64).min
        self._last_time = np.iinfo(np.int64).min  # event time of the newest arrival
        self._disorder_at = -1  # arrival index of the newest row older than the row before it
        self._appended = 0
        self._evicted = 0
        self._rejected: Counter[str] = Counter()
        self._gaps = GapLog()
        self._pending: list[Mapping[str, Any] | EventColumns | Block] = []
        self._pending_batches = 0  # columnar batches among the staged entries
        self._staged = 0  # events staged (an entry may hold many)
        self._flush_at = _PENDING_ROWS  # staged entries that make a flush (fewer with batches)
        self._views: list[Resample | Latest] = []  # live aggregates, folded as rows are stored
        self.lock = threading.RLock()
        """Held by every public method (see :mod:`nexus_nb.buffer.guard`)."""
        self.version = 0
        """Increases on every change (rows added or evicted, gap marked)."""

    @locked
    def reaches(self, rows: int) -> bool:
        """Whether the buffer holds at least ``rows`` rows, as ``len(self) >= rows``.

        Cheap while it cannot: staged events are stored (one conversion per
        column, as any read does) only once they could make up the count, so a
        writer may ask after every frame without storing frames one by one.
        """
        if self._size + self._staged < rows:
            return False
        self._flush()
        return self._size >= rows

    @locked
    def __len__(self) -> int:
        self._flush()
        return self._size

    @locked
    def __repr__(self) -> str:
        self._flush()
        return (
            f"RingBuffer(channel={self.channel!r}, rows={self._size}/{self._maxlen}, "
            f"columns={len(self._table.order) + 1})"
        )

    @property
    def maxlen(self) -> int:
        """Most rows kept."""
        return self._maxlen

    @property
    def window(self) -> pd.Timedelta | None:
        """Event-time span kept, or ``None``."""
        return self._window

    @property
    @locked
    def appended(self) -> int:
        """Events ever stored; also the arrival index the next row will get."""
        self._flush()
        return self._appended

    @property
    @locked
    def evicted(self) -> int:
        """Rows pushed out by ``maxlen`` or ``window``."""
        self._flush()
        return self._evicted

    @property
    @locked
    def rejected(self) -> int:
        """Messages that could not be stored at all (see :attr:`rejected_reasons`)."""
        self._flush()
        return sum(self._rejected.values())

    @property
    @locked
    def rejected_reasons(self) -> dict[str, int]:
        """Rejected messages by reason (:class:`nexus_nb.columnar.flatten.Rejection` values)."""
        self._flush()
        return dict(self._rejected)

    @property
    @locked
    def type_changes(self) -> int:
        """Field values stored under another type than they arrived with."""
        self._flush()
        return self._table.type_changes

    @property
    @locked
    def columns(self) -> list[str]:
        """Column names in frame order, ``timestamp`` first."""
        self._flush()
        return ["timestamp", *self._table.order]

    @property
    @locked
    def nbytes(self) -> int:
        """Bytes allocated for the columns (capacity grows by doubling up to ``maxlen``)."""
        self._flush()
        return self._table.nbytes

    @property
    @locked
    def gaps(self) -> pd.DataFrame:
        """The last 1000 gaps: ``start``, ``end``, ``duration``, ``missed``, ``reason``."""
        return self._gaps.frame()

    @property
    @locked
    def gaps_dropped(self) -> int:
        """Gaps marked but no longer kept (beyond the last 1000)."""
        return self._gaps.dropped

    def append(self, message: Mapping[str, Any]) -> None:
        """Store one event message; a message that cannot be stored is counted, not raised.

        Messages are staged and flattened into the columns in batches of 1024 (any
        read of the buffer, counters included, moves them first), so appending
        costs about as much per event as :meth:`extend`. The buffer may read the
        message until then: do not mutate it after appending.
        """
        # The lock taken inline, as in extend: @locked's extra call cost 0.2 µs of 1.0.
        with self.lock:
            pending = self._pending
            pending.append(message)
            self._staged += 1
            self.version += 1
            if len(pending) >= self._flush_at:
                self._flush()

    def extend(self, messages: Iterable[Mapping[str, Any]] | EventColumns | Block) -> None:
        """Store many event messages; the result is that of appending each in turn.

        A columnar batch (:class:`~nexus_nb.protocol.EventColumns`, what a client
        subscribed with ``columns=True`` receives) is stored the same way as its
        messages, without building them: its lists become the columns. So is a
        :class:`~nexus_nb.columnar.Block` that :func:`~nexus_nb.columnar.flattened`
        made of messages on another thread (its rejections are counted here).
        """
        # The lock taken here rather than by @locked: a stream's reader calls this
        # once per frame, and the wrapper's call costs as much as staging a message.
        with self.lock:
            if type(messages) is list:  # a frame's event messages, the common case
                if messages:
                    pending = self._pending
                    pending.extend(messages)
                    self._staged += len(messages)
                    self.version += 1
                    if len(pending) >= self._flush_at:
                        self._flush()
                return
            if isinstance(messages, EventColumns | Block):
                if not len(messages) and not (isinstance(messages, Block) and messages.rejected):
                    return
                self._pending.append(messages)
                self._pending_batches += 1
                self._staged += len(messages)
                self._flush_at -= len(messages) - 1
                self.version += 1
                if len(self._pending) >= self._flush_at:
                    self._flush()
                return
            before = len(self._pending)
            self._pending.extend(messages)
            if len(self._pending) > before:
                self._staged += len(self._pending) - before
                self.version += 1
                if len(self._pending) >= self._flush_at:
                    self._flush()

    def _flush(self) -> None:
        """Flatten the staged events into the columns, one conversion per column."""
        staged, self._pending, self._staged = self._pending, [], 0
        if not staged:
            return
        if not self._pending_batches:
            self._store(staged)  # type: ignore[arg-type]
            self._fold_views()  # the row-by-row path folds only before it evicts
            return
        self._pending_batches, self._flush_at = 0, _PENDING_ROWS
        for run in runs(staged):
            self._store(run)
        self._fold_views()

    def _store(self, events: list[Mapping[str, Any]] | EventColumns | Block) -> None:
        """Write events into the columns: one conversion per column, else row by row."""
        block, rejections = flatten_run(events, expected=self._table.order)
        for rejection in rejections:
            self._rejected[rejection.value] += 1
        channels = block.columns["channel"] if len(block.times) else []
        # A batch's rows all carry its channel: no pass over them to find a blank one.
        blank = not events.channel if isinstance(events, EventColumns) else "" in channels
        if self.channel and blank:
            block.columns["channel"] = [channel or self.channel for channel in channels]
        count = len(block.times)
        batch = self._table.plan(block) if count else None
        if batch is None:  # a column changes kind: apply the rule row by row, in order
            rows: Iterable[Any]
            if isinstance(events, Block):
                rows = block.rows()
            else:
                rows = map(flatten_or_reject, as_messages(events))
            for row in rows:
                if isinstance(row, dict):
                    if not row["channel"]:
                        row["channel"] = self.channel
                    self._store_row(row)
            return
        stored = min(count, self._maxlen)
        self._drop_oldest(max(0, self._size + stored - self._maxlen))
        self._evicted += count - stored
        if self._size + stored > self._table.capacity:
            self._grow(self._size + stored)
        self._table.write(batch, self._segments(self._size, stored))
        self._note_order(block.times)
        self._size += stored
        self._appended += count
        self._fold_views()
        if self._window_ns is not None:
            self._evict_window(int(block.times.max()))
        self._compact_labels()

    def _store_row(self, row: Row) -> None:
        table = self._table
        if self._size == self._maxlen:
            self._fold_views()
            self._drop_oldest(1)
        elif self._size == table.capacity:
            self._grow(self._size + 1)
        table.put_row((self._head + self._size) % table.capacity, row)
        if row["timestamp"] < self._last_time:
            self._disorder_at = self._appended
        self._last_time = row["timestamp"]
        self._size += 1
        self._appended += 1
        if self._window_ns is not None:
            self._fold_views()
            self._evict_window(row["timestamp"])

    def _note_order(self, times: npt.NDArray[np.int64]) -> None:
        """Note the newest of ``times`` (about to be appended) that went back in time."""
        back = np.flatnonzero(times[1:] < times[:-1])
        if len(back):
            self._disorder_at = self._appended + int(back[-1]) + 1
        elif times[0] < self._last_time:
            self._disorder_at = self._appended
        self._last_time = int(times[-1])

    def _drop_oldest(self, count: int) -> None:
        if count:
            self._head = (self._head + count) % self._table.capacity
            self._size -= count
            self._evicted += count

    def _grow(self, needed: int) -> None:
        capacity = self._table.capacity
        while capacity < needed:
            capacity *= 2
        self._table.resize(min(capacity, self._maxlen), self._segments(0, self._size))
        self._head = 0

    def _evict_window(self, newest: int) -> None:
        if newest > self._newest:
            self._newest = newest
        cutoff = self._newest - self._window_ns  # type: ignore[operator]
        times, capacity = self._table.time, self._table.capacity
        head, size = self._head, self._size
        while size and times[head] <= cutoff:
            head = (head + 1) % capacity
            size -= 1
        self._evicted += self._size - size
        self._head, self._size = head, size

    def _compact_labels(self) -> None:
        limit = 2 * self._table.capacity + 1024
        for column in self._table.columns.values():
            if column.label_count > limit:
                column.compact(self._segments(0, self._size))

    def _segments(self, offset: int, count: int) -> Segments:
        """Physical slot ranges of ``count`` rows from the ``offset``-th oldest."""
        capacity = self._table.capacity
        lo = (self._head + offset) % capacity
        if lo + count <= capacity:
            return [(lo, lo + count)]
        return [(lo, capacity), (0, lo + count - capacity)]

    @locked
    def to_dataframe(
        self,
        *,
        since: str | pd.Timestamp | None = None,
        last: int | str | pd.Timedelta | None = None,
    ) -> pd.DataFrame:
        """Return a copy of the rows in arrival order.

        Args:
            since: Keep rows with ``timestamp >= since`` (a naive time is UTC).
            last: An int keeps the last that many rows; a duration keeps rows with
                ``timestamp > newest - last`` (newest among the rows kept).

        Raises:
            ValueError: ``last`` is a negative count or a non-positive duration.
        """
        return self._table.frame(*self._select(since, last))

    def _select(
        self, since: str | pd.Timestamp | None, last: int | str | pd.Timedelta | None
    ) -> tuple[Segments, npt.NDArray[np.bool_] | None]:
        """The slots (and row mask) of :meth:`to_dataframe`'s ``since``/``last`` rows."""
        self._flush()
        count = self._size
        if isinstance(last, int | np.integer):
            if last < 0:
                raise ValueError(f"last must be >= 0, got {last}")
            count = min(count, int(last))
        segments = self._segments(self._size - count, count)
        mask = None
        if since is not None or (last is not None and not isinstance(last, int | np.integer)):
            times = self._table.times(segments)
            mask = np.ones(len(times), dtype=np.bool_)
            if since is not None:
                mask &= times >= _to_nanos(since)
            if last is not None and not isinstance(last, int | np.integer) and len(times):
                span = _to_timedelta(last)
                if span <= pd.Timedelta(0):
                    raise ValueError(f"last must be a positive duration, got {last!r}")
                mask &= times > times.max() - span.value
        return segments, mask

    @locked
    def resample(
        self,
        every: str | pd.Timedelta,
        by: str | Sequence[str] | None = None,
        agg: Mapping[str, str | Sequence[str]] | None = None,
        *,
        max_buckets: int = 1000,
        max_groups: int = 1000,
    ) -> Resample:
        """Return a live aggregate: one row per (``every`` bucket, ``by`` group).

        It starts from the rows held now and then follows every stored event
        (see :class:`~nexus_nb.buffer.resample.Resample` for bounds, late events
        and percentiles). ``agg`` maps a column to one name or a list of names
        from :data:`~nexus_nb.buffer.resample.FUNCTIONS` (``mean``, ``sum``,
        ``count``, ``min``, ``max``, ``first``, ``last``, ``p50``, ``p90``,
        ``p95``, ``p99``); the frame has ``<column>_<fn>`` columns and ``count``.

        Raises:
            ValueError: ``every`` is not a positive duration, an aggregate name is
                unknown, or a bound is below 1.
        """
        view = Resample(
            self, every, by=by, agg=agg or {}, max_buckets=max_buckets, max_groups=max_groups
        )
        return self._attach(view)

    @locked
    def latest(self, by: str | Sequence[str], *, max_groups: int = 10_000) -> Latest:
        """Return a live view of the newest row per ``by`` group (see :class:`Latest`).

        Raises:
            ValueError: ``by`` is empty or ``max_groups < 1``.
        """
        return self._attach(Latest(self, by=by, max_groups=max_groups))

    def _attach(self, view: _View) -> _View:
        self._flush()
        view.catch_up(self)
        self._views.append(view)
        return view

    def _fold_views(self) -> None:
        for view in self._views:
            view.catch_up(self)

    @locked
    def read(
        self, columns: Sequence[str], *, start: int = 0, stop: int | None = None
    ) -> tuple[int, dict[str, npt.NDArray[Any]]]:
        """Return the rows with arrival index ``>= start`` (and ``< stop``) as plotting arrays.

        Cost is O(rows returned). ``timestamp`` comes as int64 ns since the epoch;
        numbers and booleans as float64 (NaN missing, booleans 0/1); text as an
        object array of ``str`` (``None`` missing); a column the buffer does not
        have (yet) as all-NaN float64.

        Returns:
            The arrival index of the first returned row (``max(start, oldest)``)
            and the arrays, all of the same length (0 when nothing is new).
        """
        self._flush()
        oldest = self._appended - self._size
        first = max(start, oldest)
        end = self._appended if stop is None else min(stop, self._appended)
        count = max(0, end - first)
        segments = self._segments(first - oldest, count) if count else []
        return first, self._table.read(columns, segments)

    @locked
    def locate(self, start: int, end: int) -> tuple[int, int] | None:
        """Find the held rows with ``start <= timestamp <= end`` (int ns), by binary search.

        Works while the held rows are in time order, as events arriving in
        order keep them: the buffer notes each arrival older than the one
        before it, and until that row is evicted this returns ``None`` (the
        caller then scans the time column). O(log rows), no copy.

        Returns:
            ``(first, stop)`` arrival indexes for :meth:`read`, or ``None``.
        """
        self._flush()
        oldest = self._appended - self._size
        if self._disorder_at > oldest:
            return None
        bound = np.iinfo(np.int64)
        first, last = np.int64(max(start, bound.min)), np.int64(min(end, bound.max))
        lo = hi = 0
        for a, b in self._segments(0, self._size):
            times = self._table.time[a:b]
            lo += int(np.searchsorted(times, first, side="left"))
            hi += int(np.searchsorted(times, last, side="right"))
        return oldest + lo, oldest + hi

    @locked
    def mark_gap(self, start: int, end: int, *, missed: int | None = None, reason: str) -> None:
        """Record that events between ``start`` and ``end`` (int ns, UTC) were not received.

        Only the last 1000 gaps are kept; older ones are counted in :attr:`gaps_dropped`.

        Raises:
            ValueError: ``end < start`` or ``missed < 0``.
        """
        self._gaps.add(start, end, missed=missed, reason=reason)
        self.version += 1

    @locked
    def to_arrow(
        self,
        *,
        since: str | pd.Timestamp | None = None,
        last: int | str | pd.Timedelta | None = None,
    ) -> pa.Table:
        """Return :meth:`to_dataframe` as a :class:`pyarrow.Table`: same columns, order, values.

        Timestamps are ``timestamp[ns, tz=UTC]``, text columns dictionary-encoded,
        built from the buffer's columns without a frame in between (one copy of
        the rows, as :meth:`to_dataframe` makes). DuckDB reads it directly:
        ``tbl = buf.to_arrow(); duckdb.sql("select count(*) from tbl")``.
        """
        return self._table.arrow(*self._select(since, last))

    def to_polars(
        self,
        *,
        since: str | pd.Timestamp | None = None,
        last: int | str | pd.Timedelta | None = None,
    ) -> Any:
        """Return :meth:`to_arrow` as a ``polars.DataFrame``.

        Raises:
            ImportError: polars is not installed (``pip install 'nexus_nb[polars]'``).
        """
        return arrow_to_polars(self.to_arrow(since=since, last=last))

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dataframe` to Parquet (see :mod:`nexus_nb.columnar.export`)."""
        write_parquet(self.to_dataframe(), path)

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dataframe` to CSV (see :mod:`nexus_nb.columnar.export`)."""
        write_csv(self.to_dataframe(), path)


def _to_timedelta(value: str | float | pd.Timedelta) -> pd.Timedelta:
    if isinstance(value, bool):
        raise TypeError("a duration cannot be a bool")
    if isinstance(value, int | float):
        return pd.Timedelta(seconds=value)
    return pd.Timedelta(value)


def _to_nanos(value: str | pd.Timestamp) -> int:
    moment = pd.Timestamp(value)
    if moment.tzinfo is None:
        moment = moment.tz_localize("UTC")
    return int(moment.value)
