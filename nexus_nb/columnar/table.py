"""Typed columns of flattened event rows, addressed by slot, with their frame view.

:class:`Table` is the storage shared by :class:`nexus_nb.buffer.RingBuffer`
(which maps arrival order onto slots of a ring) and by the capture readers and
writers (which fill slots 0..n). Keeping it in one place means a buffer, a
Parquet row group and a JSONL capture give the same columns and dtypes for the
same events.

Column order: ``timestamp``, then columns in order of first appearance, except
that a new dotted column joins its family (``m.y`` goes right after the last
``m.*`` column) so nested objects stay together and replay in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from nexus_nb.columnar.column import Column, Kind, Segments, kind_of, take, widen
from nexus_nb.columnar.flatten import (
    Block,
    Rejection,
    flatten_or_reject,
    flatten_run,
    runs,
    to_text,
)
from nexus_nb.protocol import EventColumns, as_messages

__all__ = ["Row", "Table", "WritePlan", "insert_position", "messages_to_frame", "rows_to_frame"]

Row = Mapping[str, Any]
"""A flattened event: ``timestamp`` (int ns), ``channel`` (str) and scalar fields."""

_UTC = pd.DatetimeTZDtype(unit="ns", tz="UTC")
_ARROW_UTC = pa.timestamp("ns", tz="UTC")
_NONE = type(None)


@dataclass(frozen=True, slots=True)
class WritePlan:
    """Rows checked by :meth:`Table.plan` for :meth:`Table.write`: times, new columns, values.

    Named for its role, apart from :class:`nexus_nb.protocol.Batch` (how a
    subscription asks the server to batch its events), which it has nothing to do with.
    """

    times: npt.NDArray[np.int64]
    created: list[tuple[str, Kind]]
    values: dict[str, list[Any]]
    type_changes: int


class Table:
    """Columns of ``capacity`` slots each, grown by the owner with :meth:`resize`.

    Attributes:
        type_changes: Values that arrived with a type their column did not hold
            (see :mod:`nexus_nb.columnar.column`); each was converted, not lost.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.time: npt.NDArray[np.int64] = np.zeros(capacity, dtype=np.int64)
        self.columns: dict[str, Column] = {}
        self.order: list[str] = []
        self.type_changes = 0
        self._create("channel", Kind.TEXT)

    @property
    def nbytes(self) -> int:
        """Bytes held by the column arrays, timestamps included."""
        return int(self.time.nbytes) + sum(col.nbytes for col in self.columns.values())

    def _create(self, name: str, kind: Kind) -> Column:
        column = Column(name, kind, self.capacity)
        self.columns[name] = column
        self.order.insert(insert_position(self.order, name), name)
        return column

    def put_row(self, slot: int, row: Row) -> None:
        """Store one row in ``slot``; columns it lacks become missing there."""
        columns = self.columns
        self.time[slot] = row["timestamp"]
        matched = 0
        for name, value in row.items():
            column = columns.get(name)
            if column is None:
                if name == "timestamp" or value is None:
                    continue
                column = self._create(name, kind_of(value))
            if not column.put(slot, value):
                self._coerce(column, slot, value)
            matched += 1
        if matched < len(columns):
            for name, column in columns.items():
                if name not in row:
                    column.clear(slot, slot + 1)

    def _coerce(self, column: Column, slot: int, value: Any) -> None:
        if value is None:
            column.clear(slot, slot + 1)
            return
        self.type_changes += 1
        kind = widen(column.kind, value)
        if kind is not column.kind:
            column.convert(kind)
        if not column.put(slot, value):
            column.put_text(slot, value)

    def plan(self, block: Block) -> WritePlan | None:
        """Check a block of rows for the one-conversion-per-column path.

        Returns:
            The plan, ready for :meth:`write`, or ``None`` (nothing changed) when
            some value needs a column to change kind: the caller then stores the
            rows one by one with :meth:`put_row` so the rule applies in order.
        """
        created: list[tuple[str, Kind]] = []
        values: dict[str, list[Any]] = {}
        coerced = 0
        for name, column_values in block.columns.items():
            types = set(block.types[name])
            column = self.columns.get(name)
            if column is None:
                types.discard(_NONE)
                if len(types) > 1:
                    return None
                if types:
                    first = next(v for v in column_values if v is not None)
                    created.append((name, kind_of(first)))
            elif not column.accepts(types):
                if column.kind is not Kind.TEXT:
                    return None
                # A text column takes any scalar as its text: no kind change.
                coerced += sum(v is not None and type(v) is not str for v in column_values)
                column_values = [v if v is None else to_text(v) for v in column_values]
            values[name] = column_values
        return WritePlan(block.times, created, values, coerced)

    def write(self, batch: WritePlan, segments: Segments) -> None:
        """Store the last rows of a planned batch across ``segments``, in order.

        Every row of the batch shaped the columns (its new fields created
        columns); only the last ``sum(hi - lo)`` rows are stored.
        """
        for name, kind in batch.created:
            self._create(name, kind)
        self.type_changes += batch.type_changes
        stored = sum(hi - lo for lo, hi in segments)
        skip = len(batch.times) - stored
        times = batch.times[skip:]
        encoded = {
            name: column.encode(batch.values[name][skip:] if skip else batch.values[name])
            for name, column in self.columns.items()
            if name in batch.values
        }
        start = 0
        for lo, hi in segments:
            stop = start + hi - lo
            self.time[lo:hi] = times[start:stop]
            for name, column in self.columns.items():
                arrays = encoded.get(name)
                if arrays is None:
                    column.clear(lo, hi)
                else:
                    valid = None if arrays[1] is None else arrays[1][start:stop]
                    column.put_many(lo, hi, (arrays[0][start:stop], valid))
            start = stop

    def resize(self, capacity: int, segments: Segments) -> None:
        """Reallocate every column to ``capacity`` slots with the ``segments`` rows first."""
        times = take(self.time, segments)
        self.time = np.zeros(capacity, dtype=np.int64)
        self.time[: len(times)] = times
        for column in self.columns.values():
            column.resize(capacity, segments)
        self.capacity = capacity

    def times(self, segments: Segments) -> npt.NDArray[np.int64]:
        """Copy the event times (int ns) of the rows in ``segments``."""
        return take(self.time, segments)

    def frame(self, segments: Segments, mask: npt.NDArray[np.bool_] | None = None) -> pd.DataFrame:
        """Build a DataFrame of the rows in ``segments`` (optionally masked), in order."""
        times = take(self.time, segments)
        if mask is not None:
            times = times[mask]
        data: dict[str, Any] = {
            "timestamp": pd.Series(times.view("datetime64[ns]"), dtype=_UTC, copy=False)
        }
        for name in self.order:
            data[name] = self.columns[name].to_pandas(segments, mask)
        return pd.DataFrame(data, copy=False)

    def arrow(self, segments: Segments, mask: npt.NDArray[np.bool_] | None = None) -> pa.Table:
        """Build the Arrow table of :meth:`frame`'s rows straight from the columns.

        Same columns, order and values as ``pa.Table.from_pandas(frame(...))``
        without building the frame first: one copy of the rows, as the frame makes.
        """
        times = take(self.time, segments)
        if mask is not None:
            times = times[mask]
        arrays = [pa.array(times).view(_ARROW_UTC)]  # int64 nanoseconds as they are: no pass
        arrays += [self.columns[name].to_arrow(segments, mask) for name in self.order]
        return pa.Table.from_arrays(arrays, names=["timestamp", *self.order])

    def read(self, names: Iterable[str], segments: Segments) -> dict[str, npt.NDArray[Any]]:
        """Return plotting arrays for ``names``; unknown names come back all NaN."""
        size = sum(hi - lo for lo, hi in segments)
        arrays: dict[str, npt.NDArray[Any]] = {}
        for name in names:
            column = self.columns.get(name)
            if name == "timestamp":
                arrays[name] = take(self.time, segments)
            elif column is None:
                arrays[name] = np.full(size, np.nan)
            else:
                arrays[name] = column.read(segments)
        return arrays


def rows_to_frame(rows: Iterable[Row]) -> pd.DataFrame:
    """Build the DataFrame a large enough ring buffer gives for these rows, one by one."""
    rows = list(rows)
    table = Table(len(rows))
    for slot, row in enumerate(rows):
        table.put_row(slot, row)
    return table.frame([(0, len(rows))])


def messages_to_frame(
    messages: Sequence[object | EventColumns],
) -> tuple[pd.DataFrame, list[Rejection]]:
    """Build the DataFrame a large enough ring buffer gives for these event messages.

    Columnar batches (:class:`~nexus_nb.protocol.EventColumns`) may stand among
    the messages for the events they hold.

    Returns:
        The frame, and why each message that was not a storable event was left out.
    """
    parts: list[tuple[Block, list[Rejection], Any]] = []
    for run in runs(messages):  # type: ignore[arg-type]
        parts.append((*flatten_run(run), run))
    table = Table(sum(len(block.times) for block, _, _ in parts))
    rejections: list[Rejection] = []
    slot = 0
    for block, rejected, run in parts:
        rejections.extend(rejected)
        count = len(block.times)
        batch = table.plan(block) if count else None
        if batch is not None:
            table.write(batch, [(slot, slot + count)])
            slot += count
            continue
        for message in as_messages(run):
            row = flatten_or_reject(message)
            if isinstance(row, dict):
                table.put_row(slot, row)
                slot += 1
    return table.frame([(0, slot)]), rejections


def insert_position(order: Sequence[str], name: str) -> int:
    """Where a new column goes: after its family's last column, else at the end.

    The family of ``a.b.c`` is the longest of ``a.b`` and ``a`` that already has
    a column equal to it or under it (``a.b`` or ``a.b.*``).
    """
    parts = name.split(".")
    for depth in range(len(parts) - 1, 0, -1):
        family = ".".join(parts[:depth])
        prefix = family + "."
        members = [
            i for i, other in enumerate(order) if other == family or other.startswith(prefix)
        ]
        if members:
            return members[-1] + 1
    return len(order)
