"""Capture: write event streams to files, read captures back, replay them as events.

Built on the columnar core (:mod:`nexus_nb.columnar`), like :mod:`nexus_nb.buffer`,
its sibling. The flatten rule, timestamps and frame exports are re-exported here
because this is where they were documented first (``nexus_nb.capture.flatten``,
``format_timestamp``...); their home is :mod:`nexus_nb.columnar`.
Nothing here touches asyncio or the network.
"""

from __future__ import annotations

from nexus_nb.capture.event import ReplayEvent, iter_events
from nexus_nb.capture.file import read_capture
from nexus_nb.capture.recorder import Recorder
from nexus_nb.columnar import (
    Export,
    Rejection,
    arrow_to_polars,
    as_export,
    flatten,
    flatten_columns,
    flatten_many,
    flatten_or_reject,
    format_timestamp,
    frame_to_arrow,
    frame_to_polars,
    parse_timestamp,
    rows_to_frame,
    unflatten,
    write_csv,
    write_parquet,
)

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
