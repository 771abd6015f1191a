"""Bring frames read from files back to the buffer's dtypes, and join capture parts.

The buffer's frame conventions (see :mod:`nexus_nb.columnar.column`): event time
``datetime64[ns, UTC]``; text ``category`` with categories in order of first
appearance; ints ``int64`` (``Int64`` when values are missing); booleans ``bool``
(``boolean`` when missing); floats ``float64``. Parts of one capture that
disagree on a column's type are joined by the buffer's type-change rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from nexus_nb.columnar.column import Kind
from nexus_nb.columnar.flatten import to_text
from nexus_nb.columnar.table import insert_position

__all__ = ["join_parts", "normalize", "python_values"]

_UTC = pd.DatetimeTZDtype(unit="ns", tz="UTC")


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the frame with every column in the buffer's dtype for its kind."""
    columns: dict[str, Any] = {}
    for name in frame.columns:
        series = frame[name]
        if name == "timestamp":
            columns[name] = _timestamps(series)
        else:
            kind = _kind(series)
            columns[name] = _column(series, kind) if kind is not None else series
    return pd.DataFrame(columns)


def join_parts(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate normalized parts as one buffer would have stored their rows.

    Columns are united in first-seen order (families kept together); a column
    absent from a part is missing there; parts whose kinds differ are joined by
    the type-change rule (int with float -> float, anything else -> text).
    """
    if len(frames) == 1:
        return frames[0]
    order: list[str] = []
    for frame in frames:
        for name in frame.columns:
            if name not in order:
                order.insert(insert_position(order, name), name)
    columns: dict[str, Any] = {}
    for name in order:
        parts = [frame[name] if name in frame.columns else None for frame in frames]
        present = [part for part in parts if part is not None]
        if name == "timestamp":
            columns[name] = pd.concat(present, ignore_index=True)
            continue
        kinds = {_kind(part) for part in present}
        kind = kinds.pop() if len(kinds) == 1 else _join(kinds)
        if kind is None:
            columns[name] = pd.concat(present, ignore_index=True)
            continue
        pieces = [
            _as_kind(part, kind) if part is not None else _missing(len(frame), kind)
            for part, frame in zip(parts, frames, strict=True)
        ]
        columns[name] = _column(pd.concat(pieces, ignore_index=True), kind)
    return pd.DataFrame(columns)


def _as_kind(series: pd.Series[Any], kind: Kind) -> pd.Series[Any]:
    """Convert a part's column to ``kind`` by the type-change rule."""
    if _kind(series) is kind:
        return series
    if kind is Kind.FLOAT:
        return pd.Series(series.to_numpy(dtype=np.float64, na_value=np.nan))
    texts = [None if value is None else to_text(value) for value in python_values(series)]
    return pd.Series(texts, dtype="str")


def _missing(length: int, kind: Kind) -> pd.Series[Any]:
    dtype = {Kind.INT: "Int64", Kind.BOOL: "boolean", Kind.FLOAT: "float64", Kind.TEXT: "str"}
    return pd.Series([None] * length, dtype=dtype[kind])


def _join(kinds: set[Kind | None]) -> Kind | None:
    if None in kinds:
        return None
    return Kind.FLOAT if kinds == {Kind.INT, Kind.FLOAT} else Kind.TEXT


def _kind(series: pd.Series[Any]) -> Kind | None:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        return Kind.TEXT
    if pd.api.types.is_bool_dtype(dtype):
        return Kind.BOOL
    if pd.api.types.is_integer_dtype(dtype):
        return Kind.INT
    if pd.api.types.is_float_dtype(dtype):
        return Kind.FLOAT
    if dtype.kind == "O":
        return Kind.TEXT if all(isinstance(v, str) for v in series.dropna().tolist()) else None
    return None


def python_values(series: pd.Series[Any]) -> list[Any]:
    """Return a column as Python scalars (not numpy ones), ``None`` where missing."""
    values = series.to_numpy(dtype=object, copy=True)
    values[series.isna().to_numpy()] = None
    return [value.item() if isinstance(value, np.generic) else value for value in values.tolist()]


def _column(series: pd.Series[Any], kind: Kind) -> Any:
    if kind is Kind.TEXT:
        # Categories in order of first appearance, as a buffer's frame has them.
        texts = series.astype("str")
        codes, uniques = pd.factorize(texts, use_na_sentinel=True)
        categories = pd.Index(uniques, dtype="str")
        return pd.Categorical.from_codes(codes.astype(np.int32), categories=categories)
    if kind is Kind.FLOAT:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = series.isna().to_numpy()
    dtype = np.int64 if kind is Kind.INT else np.bool_
    values = series.to_numpy(dtype=dtype, na_value=0 if kind is Kind.INT else False)
    if not missing.any():
        return values
    if kind is Kind.INT:
        return pd.arrays.IntegerArray(values, missing)
    return pd.arrays.BooleanArray(values, missing)


def _timestamps(series: pd.Series[Any]) -> pd.Series[Any]:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC")
    elif dtype.kind == "M":
        series = series.dt.tz_localize("UTC")
    else:
        series = pd.to_datetime(series, utc=True, format="ISO8601")
    return series.astype(_UTC)
