"""Record an event stream to disk in row groups, for captures longer than memory."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nexus_nb.capture.file import RECORDER_KEY, Format, format_of, part_path, part_paths
from nexus_nb.capture.layout import METADATA_KEY, ColumnOrders
from nexus_nb.columnar.table import messages_to_frame
from nexus_nb.exceptions import CaptureError
from nexus_nb.protocol import EventColumns, as_messages

__all__ = ["Recorder"]

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class Recorder:
    """Append event messages to a Parquet, CSV or JSONL capture.

    Messages are held in memory (as given: do not mutate them after writing)
    until ``row_group_size`` of them are pending,
    then written as one Parquet row group or one block of CSV/JSONL lines; memory
    stays bounded by ``row_group_size`` (the write happens inside the call that
    fills it). :meth:`close` writes whatever is pending: call it in a ``finally``
    (or use ``with``), also when the owning task is cancelled; it does no awaiting.

    Schema: the first row group fixes the Parquet schema and the CSV header
    (flattened as by :func:`nexus_nb.capture.flatten`). A later row group that
    lacks a column gets it missing; ints into a float column are widened. A later
    row group with a new column or a type the schema cannot hold starts a new part
    file, ``<stem>.part-0001<suffix>`` and up; :func:`nexus_nb.capture.read_capture`
    joins the parts. JSONL keeps raw messages, so it has one part only. A Parquet
    capture of several channels also keeps each channel's own column order (see
    :mod:`nexus_nb.capture.layout`), so a replayed channel gets its columns back
    in the order it had.

    A Parquet file is readable only once closed. An existing capture at ``path``,
    with its part files, is replaced.

    Args:
        path: The capture file.
        row_group_size: Messages held before a write (default 10,000).
        fmt: ``"parquet"``, ``"csv"`` or ``"jsonl"``; default from the extension.

    Raises:
        CaptureError: Unknown format, or the file cannot be created.
        ValueError: ``row_group_size < 1``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        row_group_size: int = 10_000,
        fmt: str | None = None,
    ) -> None:
        if row_group_size < 1:
            raise ValueError(f"row_group_size must be >= 1, got {row_group_size}")
        self._path = Path(path)
        self._format = format_of(path, fmt)
        self._row_group_size = row_group_size
        self._pending: list[Mapping[str, Any] | EventColumns] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._header: list[str] | None = None
        self._files: list[Path] = []
        self._rows_written = 0
        self._rejected: Counter[str] = Counter()
        self._orders = ColumnOrders()
        self._closed = False
        try:
            for stale in part_paths(self._path):
                stale.unlink(missing_ok=True)
        except OSError as exc:
            raise CaptureError(f"cannot replace capture {str(path)!r}: {exc}") from exc

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Recorder({str(self._path)!r}, format={self._format.value}, "
            f"rows_written={self._rows_written}, pending={self._pending_rows})"
        )

    @property
    def path(self) -> Path:
        """The capture file (part 0)."""
        return self._path

    @property
    def rows_written(self) -> int:
        """Events written to disk so far, not counting pending ones (JSONL: messages)."""
        return self._rows_written

    @property
    def files(self) -> list[Path]:
        """The files written so far, the capture path first."""
        return list(self._files)

    @property
    def rejected(self) -> dict[str, int]:
        """Messages not recorded because they are not storable events, by reason."""
        return dict(self._rejected)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def write(self, message: Mapping[str, Any]) -> None:
        """Record one event message; one that is not a storable event is counted, not raised.

        Raises:
            CaptureError: The recorder is closed or a row group cannot be written.
        """
        self._stage(message, 1)

    def write_many(self, messages: Iterable[Mapping[str, Any]] | EventColumns) -> None:
        """Record many event messages (see :meth:`write`), or one columnar batch whole.

        A batch (:class:`~nexus_nb.protocol.EventColumns`) is recorded as its
        events, without building them, and may make a row group larger than
        ``row_group_size`` by less than its own length.
        """
        if isinstance(messages, EventColumns):
            self._stage(messages, len(messages))
            return
        for message in messages:
            self._stage(message, 1)

    def _stage(self, item: Mapping[str, Any] | EventColumns, rows: int) -> None:
        if self._closed:
            raise CaptureError(f"recorder for {str(self._path)!r} is closed")
        self._pending.append(item)
        self._pending_rows += rows
        if self._pending_rows >= self._row_group_size:
            self.flush()

    def flush(self) -> None:
        """Write the pending messages now.

        Raises:
            CaptureError: The file cannot be written; the pending messages are kept.
        """
        if not self._pending:
            return
        try:
            if self._format is Format.JSONL:
                messages: list[Any] = []
                for item in self._pending:
                    if isinstance(item, EventColumns):
                        messages.extend(as_messages(item))
                    else:
                        messages.append(item)
                self._write_jsonl(messages)
                written = len(messages)
            else:
                frame, rejections = messages_to_frame(self._pending)
                self._note_orders(frame)
                if len(frame):
                    if self._format is Format.CSV:
                        self._write_csv(frame)
                    else:
                        self._write_parquet(frame)
                written = len(frame)
        except (OSError, pa.ArrowException, TypeError) as exc:
            raise CaptureError(f"cannot write capture {str(self._path)!r}: {exc}") from exc
        if self._format is not Format.JSONL:
            self._rejected.update(rejection.value for rejection in rejections)
        self._rows_written += written
        self._pending = []
        self._pending_rows = 0

    def close(self) -> None:
        """Write everything pending and close the file; calling it again does nothing.

        Raises:
            CaptureError: The last rows or the Parquet footer cannot be written.
        """
        if self._closed:
            return
        try:
            self.flush()
            if not self._files:  # nothing recorded: still leave a readable, empty capture
                self._write_empty()
        finally:
            self._closed = True
            try:
                self._close_writer()
            except (OSError, pa.ArrowException) as exc:
                raise CaptureError(f"cannot finish {str(self._path)!r}: {exc}") from exc

    def _note_orders(self, frame: pd.DataFrame) -> None:
        """Keep each channel's own column order (only Parquet has room for it)."""
        if self._format is Format.PARQUET:
            self._orders.add_frame(frame, self._pending)

    def _close_writer(self) -> None:
        """Finish the current Parquet part, with the column orders known so far."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            if self._orders:
                writer.add_key_value_metadata({METADATA_KEY: self._orders.encode().decode()})
            writer.close()

    def _write_empty(self) -> None:
        try:
            if self._format is Format.JSONL:
                self._next_file().touch()
            elif self._format is Format.CSV:
                self._write_csv(messages_to_frame([])[0])
            else:
                self._write_parquet(messages_to_frame([])[0])
        except (OSError, pa.ArrowException) as exc:
            raise CaptureError(f"cannot write capture {str(self._path)!r}: {exc}") from exc

    def _next_file(self) -> Path:
        path = part_path(self._path, len(self._files))
        self._files.append(path)
        return path

    def _write_jsonl(self, messages: list[Any]) -> None:
        if not self._files:
            self._next_file()
        block = b"".join(orjson.dumps(message, default=str) + b"\n" for message in messages)
        with self._files[-1].open("ab") as out:
            out.write(block)

    def _write_csv(self, frame: pd.DataFrame) -> None:
        names = list(frame.columns)
        if self._header is None or not set(names) <= set(self._header):
            self._header = names
            path = self._next_file()
            frame.to_csv(path, index=False, date_format=_TIME_FORMAT)
            return
        frame = frame.reindex(columns=self._header)
        frame.to_csv(self._files[-1], mode="a", header=False, index=False, date_format=_TIME_FORMAT)

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        table = _arrow(frame)
        if self._schema is not None:
            fitted = _fit(table, self._schema)
            if fitted is not None:
                self._writer.write_table(fitted)  # type: ignore[union-attr]
                return
            self._close_writer()
        self._schema = table.schema
        self._writer = pq.ParquetWriter(self._next_file(), table.schema)
        self._writer.write_table(table)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """Convert a row-group frame to Arrow with stable types (text as plain strings)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [
        pa.field(field.name, pa.string()) if pa.types.is_dictionary(field.type) else field
        for field in table.schema
    ]
    schema = pa.schema(fields, metadata={RECORDER_KEY: b"1"})
    return table.cast(schema)


def _fit(table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    """Cast a row group to the file's schema, or ``None`` when it cannot hold it."""
    if not set(table.schema.names) <= set(schema.names):
        return None
    columns = []
    for field in schema:
        if field.name not in table.schema.names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if column.type != field.type:
            if not (pa.types.is_integer(column.type) and pa.types.is_floating(field.type)):
                return None
            column = column.cast(field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)
