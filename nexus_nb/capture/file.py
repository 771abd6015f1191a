"""Read any capture back as one DataFrame, with its part files.

The writers of a single frame (:func:`~nexus_nb.columnar.export.write_parquet`,
:func:`~nexus_nb.columnar.export.write_csv`) live in the columnar core, since a
buffer uses them too; what each format keeps is described here.

Formats, chosen by extension: ``.parquet``/``.pq``, ``.csv``, ``.jsonl``/``.ndjson``
(one event message per line, as received).

* Parquet keeps every dtype: a frame written with ``write_parquet`` reads
  back equal. Captures written by :class:`~nexus_nb.capture.Recorder` are read
  with the buffer's dtype conventions (see :mod:`nexus_nb.columnar.dtype`).
* CSV keeps values as text. Reading back parses ``timestamp`` as UTC and turns
  text columns into ``category``, but loses: int columns with missing values
  (they read as float64), booleans with missing values (text), text that looks
  like a number (read as a number), empty strings (read as missing) and
  sub-microsecond time.
* JSONL is flattened exactly as a buffer flattens; lines that are not storable
  events (e.g. a ``subscribed`` reply) are skipped.

A capture may have part files next to it, ``<stem>.part-0001<suffix>`` and up,
written by a recorder when the schema changed; :func:`read_capture` joins them.
"""

from __future__ import annotations

import enum
import os
import re
from pathlib import Path
from typing import Any, overload

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nexus_nb.capture.layout import ATTRS_KEY, METADATA_KEY, ColumnOrders
from nexus_nb.columnar.dtype import join_parts, normalize
from nexus_nb.columnar.export import Export, as_export
from nexus_nb.columnar.table import messages_to_frame
from nexus_nb.exceptions import CaptureError

__all__ = [
    "RECORDER_KEY",
    "Format",
    "format_of",
    "part_path",
    "read_capture",
]

RECORDER_KEY = b"nexus_nb.recorder"
"""Parquet schema metadata key marking a file written by a Recorder."""


class Format(enum.Enum):
    """A capture file format."""

    PARQUET = "parquet"
    CSV = "csv"
    JSONL = "jsonl"


_SUFFIXES = {
    ".parquet": Format.PARQUET,
    ".pq": Format.PARQUET,
    ".csv": Format.CSV,
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
}


def format_of(path: str | os.PathLike[str], fmt: str | None = None) -> Format:
    """Return the format named by ``fmt``, or else by the path's extension.

    Raises:
        CaptureError: The format or extension is not one of the supported ones.
    """
    if fmt is not None:
        try:
            return Format(fmt.lower().lstrip("."))
        except ValueError:
            raise CaptureError(f"unknown capture format {fmt!r}") from None
    suffix = Path(path).suffix.lower()
    try:
        return _SUFFIXES[suffix]
    except KeyError:
        known = ", ".join(sorted(_SUFFIXES))
        raise CaptureError(f"cannot tell the capture format of {str(path)!r} ({known})") from None


def part_path(path: str | os.PathLike[str], index: int) -> Path:
    """Return the path of part ``index`` of a capture (part 0 is the path itself)."""
    path = Path(path)
    if index == 0:
        return path
    return path.with_name(f"{path.stem}.part-{index:04d}{path.suffix}")


def part_paths(path: str | os.PathLike[str]) -> list[Path]:
    """Return the existing parts of a capture, in order, the path itself first."""
    path = Path(path)
    pattern = re.compile(re.escape(path.stem) + r"\.part-(\d{4,})" + re.escape(path.suffix) + "$")
    numbered = []
    if path.parent.is_dir():
        for entry in path.parent.iterdir():
            match = pattern.match(entry.name)
            if match:
                numbered.append((int(match.group(1)), entry))
    return [path, *(entry for _, entry in sorted(numbered))]


@overload
def read_capture(path: str | os.PathLike[str]) -> pd.DataFrame: ...
@overload
def read_capture(path: str | os.PathLike[str], *, as_: Export) -> Any: ...
def read_capture(path: str | os.PathLike[str], *, as_: Export = "pandas") -> Any:
    """Read a capture, with its part files, as one DataFrame in the buffer's column order.

    ``as_="arrow"`` returns a :class:`pyarrow.Table` and ``as_="polars"`` a
    ``polars.DataFrame`` of the same frame (see :func:`~nexus_nb.capture.frame_to_arrow`).

    When the capture knows each channel's own column order (Parquet written by a
    recorder, JSONL), the frame carries it in ``attrs["nexus_nb.columns"]``
    ({channel: [column, ...]}), which replay follows.

    Raises:
        CaptureError: The extension is unknown, the file is missing or unreadable,
            or ``as_`` is not ``"pandas"``, ``"arrow"`` or ``"polars"``.
    """
    fmt = format_of(path)
    if not Path(path).is_file():
        raise CaptureError(f"capture {str(path)!r} does not exist or is not a file")
    orders = ColumnOrders()
    frames = []
    for part in part_paths(path):
        frame, part_orders = _read_part(part, fmt)
        frames.append(frame)
        orders.merge(part_orders)
    joined = join_parts(frames)
    if orders:
        joined.attrs[ATTRS_KEY] = orders.as_dict()
    return as_export(joined, as_)


def _read_part(path: Path, fmt: Format) -> tuple[pd.DataFrame, ColumnOrders]:
    try:
        if fmt is Format.PARQUET:
            return _read_parquet(path)
        if fmt is Format.CSV:
            return normalize(pd.read_csv(path)), ColumnOrders()
        return _read_jsonl(path)
    except CaptureError:
        raise
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserError) as exc:
        raise CaptureError(f"cannot read capture {str(path)!r}: {exc}") from exc


def _read_parquet(path: Path) -> tuple[pd.DataFrame, ColumnOrders]:
    file = pq.ParquetFile(path)
    table = file.read()
    metadata = table.schema.metadata or {}
    if RECORDER_KEY in metadata:
        orders = ColumnOrders.decode((file.metadata.metadata or {}).get(METADATA_KEY.encode()))
        # Nullable pandas types keep ints and bools from turning into floats
        # where a row group lacked a column; normalize() narrows them again.
        nullable = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
        return normalize(table.to_pandas(types_mapper=nullable.get)), orders
    frame: pd.DataFrame = table.to_pandas()
    return frame, ColumnOrders()


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, ColumnOrders]:
    messages: list[Any] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                messages.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise CaptureError(f"{str(path)!r} line {number} is not JSON: {exc}") from exc
    orders = ColumnOrders()
    orders.add_messages(messages)
    return messages_to_frame(messages)[0], orders
