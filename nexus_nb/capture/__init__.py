"""Capture: flatten events into rows, write and read capture files, replay them.

Nothing here touches asyncio or the network; :mod:`nexus_nb.buffer` builds on it.
"""

from __future__ import annotations

from nexus_nb.capture.export import (
    Export,
    arrow_to_polars,
    as_export,
    frame_to_arrow,
    frame_to_polars,
)
from nexus_nb.capture.file import read_capture, write_csv, write_parquet
from nexus_nb.capture.record import (
    Rejection,
    flatten,
    flatten_columns,
    flatten_many,
    flatten_or_reject,
    unflatten,
)
from nexus_nb.capture.recorder import Recorder
from nexus_nb.capture.replay import ReplayEvent, iter_events
from nexus_nb.capture.table import rows_to_frame
from nexus_nb.capture.timestamp import format_timestamp, parse_timestamp

__all__ = [
    "Export",
    "Recorder",
    "Rejection",
    "ReplayEvent",
    "arrow_to_polars",
    "as_export",
    "flatten",
    "flatten_columns",
    "flatten_many",
    "flatten_or_reject",
    "format_timestamp",
    "frame_to_arrow",
    "frame_to_polars",
    "iter_events",
    "parse_timestamp",
    "read_capture",
    "rows_to_frame",
    "unflatten",
    "write_csv",
    "write_parquet",
]
