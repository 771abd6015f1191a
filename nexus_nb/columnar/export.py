"""Event frames as Arrow tables, Polars frames, Parquet and CSV files.

The conversions a buffer's frame and a capture read back share: for DuckDB,
Polars and friends, and for :meth:`RingBuffer.to_parquet
<nexus_nb.buffer.RingBuffer.to_parquet>`. Reading files back (their part files,
the recorder's metadata) is the capture's business: :func:`nexus_nb.capture.read_capture`.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from nexus_nb.exceptions import CaptureError

__all__ = [
    "Export",
    "arrow_to_polars",
    "as_export",
    "frame_to_arrow",
    "frame_to_polars",
    "write_csv",
    "write_parquet",
]

Export = Literal["pandas", "arrow", "polars"]
"""What a frame is returned as: ``"pandas"`` (a DataFrame), ``"arrow"``, ``"polars"``."""

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Return ``frame`` as a :class:`pyarrow.Table` with the same columns, order and values.

    ``timestamp`` becomes ``timestamp[ns, tz=UTC]``, ``category`` columns become
    dictionary-encoded strings, missing values (NaN, ``pd.NA``) become nulls.
    Numeric columns share the frame's numpy memory where Arrow's layout allows
    (no copy of the values, only a validity bitmap when some are missing), so
    the table costs about nothing beyond the frame. DuckDB queries the result
    directly: ``duckdb.sql("select ... from tbl")`` with ``tbl`` a local name.
    """
    return pa.Table.from_pandas(frame, preserve_index=False)


def frame_to_polars(frame: pd.DataFrame) -> Any:
    """Return ``frame`` as a ``polars.DataFrame`` (through :func:`frame_to_arrow`).

    Raises:
        ImportError: polars is not installed (``pip install 'nexus_nb[polars]'``).
    """
    return arrow_to_polars(frame_to_arrow(frame))


def arrow_to_polars(table: pa.Table) -> Any:
    """Return an Arrow table as a ``polars.DataFrame`` (polars is an optional extra).

    Raises:
        ImportError: polars is not installed (``pip install 'nexus_nb[polars]'``).
    """
    try:
        import polars as pl
    except ImportError as exc:  # an optional extra
        raise ImportError("to_polars needs polars: pip install 'nexus_nb[polars]'") from exc
    return pl.from_arrow(table)


def as_export(frame: pd.DataFrame, as_: Export) -> Any:
    """Return ``frame`` as ``as_`` asks.

    Raises:
        CaptureError: ``as_`` is not ``"pandas"``, ``"arrow"`` or ``"polars"``.
    """
    if as_ == "pandas":
        return frame
    if as_ == "arrow":
        return frame_to_arrow(frame)
    if as_ == "polars":
        return frame_to_polars(frame)
    raise CaptureError(f"as_ must be 'pandas', 'arrow' or 'polars', got {as_!r}")


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a DataFrame to Parquet; :func:`~nexus_nb.capture.read_capture` restores it exactly.

    Raises:
        CaptureError: The file cannot be written or a column cannot be stored.
    """
    try:
        frame.to_parquet(path, index=False, engine="pyarrow")
    except (OSError, pa.ArrowException, ValueError, TypeError) as exc:
        raise CaptureError(f"cannot write Parquet capture {str(path)!r}: {exc}") from exc


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a DataFrame to CSV, times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

    What a CSV loses on the way back is listed in :mod:`nexus_nb.capture.file`.

    Raises:
        CaptureError: The file cannot be written.
    """
    try:
        frame.to_csv(path, index=False, date_format=_TIME_FORMAT)
    except OSError as exc:
        raise CaptureError(f"cannot write CSV capture {str(path)!r}: {exc}") from exc
