"""Columnar core: events flattened into typed columns, tables of them, their frames.

The foundation that :mod:`nexus_nb.buffer` (a bounded ring of rows) and
:mod:`nexus_nb.capture` (files written and read back) both build on, so a buffer,
a Parquet row group and a JSONL capture give the same columns and dtypes for the
same events; neither of the two imports the other. One concept per module:

* :mod:`~nexus_nb.columnar.flatten`: the rule that turns an event message into a
  flat row and back, and the columnar batches of many events.
* :mod:`~nexus_nb.columnar.timestamp`: ISO-8601 text <-> int nanoseconds, UTC.
* :mod:`~nexus_nb.columnar.column`: one typed column and its type-change rule.
* :mod:`~nexus_nb.columnar.table`: columns addressed by slot, and their frame view.
* :mod:`~nexus_nb.columnar.dtype`: frames read from files brought back to those dtypes.
* :mod:`~nexus_nb.columnar.export`: frames as Arrow, Polars, Parquet and CSV.

No asyncio and no network here.
"""

from __future__ import annotations

from nexus_nb.columnar.export import (
    Export,
    arrow_to_polars,
    as_export,
    frame_to_arrow,
    frame_to_polars,
    write_csv,
    write_parquet,
)
from nexus_nb.columnar.flatten import (
    Block,
    Rejection,
    flatten,
    flatten_columns,
    flatten_many,
    flatten_or_reject,
    flattened,
    unflatten,
)
from nexus_nb.columnar.table import Table, messages_to_frame, rows_to_frame
from nexus_nb.columnar.timestamp import format_timestamp, parse_timestamp

__all__ = [
    "Block",
    "Export",
    "Rejection",
    "Table",
    "arrow_to_polars",
    "as_export",
    "flatten",
    "flatten_columns",
    "flatten_many",
    "flatten_or_reject",
    "flattened",
    "format_timestamp",
    "frame_to_arrow",
    "frame_to_polars",
    "messages_to_frame",
    "parse_timestamp",
    "rows_to_frame",
    "unflatten",
    "write_csv",
    "write_parquet",
]
