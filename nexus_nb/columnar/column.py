"""One typed column of flattened events, stored in numpy arrays addressed by slot.

A column has a :class:`Kind` fixed by the first non-null value it receives and
changed by the type-change rule:

* ``INT`` receiving a float widens to ``FLOAT`` (ints above 2**53 lose precision);
  ``FLOAT`` accepts ints as floats (JavaScript prints ``45.0`` as ``45``).
* Any other mix (bool with number, number with text) turns the column to ``TEXT``;
  the stored values and every later non-text value become their JSON text
  (:func:`~nexus_nb.columnar.flatten.to_text`), so no value is lost.

Each value that arrives with a type its column does not hold (other than an int
into a float column) is one *type change*, counted by the owner.

Storage: ``FLOAT`` float64 with NaN as missing; ``INT`` int64 and ``BOOL`` bool,
each with a validity mask; ``TEXT`` int32 codes into a label dictionary (``-1``
missing). Frames show ``TEXT`` as ``category`` (categories in order of first
appearance in the frame), ``INT``/``BOOL`` as ``Int64``/``boolean`` only when
values are missing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from nexus_nb.columnar.flatten import to_text

__all__ = ["Column", "Kind", "Segments", "kind_of", "take", "widen"]

Segments = Sequence[tuple[int, int]]
"""Physical slot ranges ``[lo, hi)`` in row order (a ring gives at most two)."""

_NONE = type(None)


class Kind(enum.Enum):
    """What a column stores."""

    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    TEXT = "text"


_KIND_OF_TYPE: dict[type, Kind] = {
    bool: Kind.BOOL,
    int: Kind.INT,
    float: Kind.FLOAT,
    str: Kind.TEXT,
}
_ACCEPTED: dict[Kind, frozenset[type]] = {
    Kind.BOOL: frozenset({bool}),
    Kind.INT: frozenset({int}),
    Kind.FLOAT: frozenset({float, int}),
    Kind.TEXT: frozenset({str}),
}


def kind_of(value: object) -> Kind:
    """Return the kind of a flattened scalar (``bool``, ``int``, ``float`` or ``str``).

    Raises:
        TypeError: The value is not one of those four types.
    """
    try:
        return _KIND_OF_TYPE[type(value)]
    except KeyError:
        raise TypeError(f"not a flattened scalar: {type(value).__name__}") from None


def widen(kind: Kind, value: object) -> Kind:
    """Return the kind a column of ``kind`` must become to hold ``value``."""
    other = kind_of(value)
    if other is kind or (kind is Kind.FLOAT and other is Kind.INT):
        return kind
    if {kind, other} == {Kind.INT, Kind.FLOAT}:
        return Kind.FLOAT
    return Kind.TEXT


class Column:
    """One typed column with ``capacity`` slots; every slot starts missing.

    The owner decides which slot holds which row; ``put`` is the per-event hot
    path and returns ``False`` (storing nothing) when the value does not fit, so
    the owner can :meth:`convert` and count a type change.
    """

    __slots__ = ("_labels", "_lookup", "kind", "name", "put", "valid", "values")

    put: Callable[[int, object], bool]
    """Store a fitting value in a slot; ``False`` (nothing stored) when it does not fit."""

    def __init__(self, name: str, kind: Kind, capacity: int) -> None:
        self.name = name
        self.kind = kind
        self.values: npt.NDArray[Any] = np.empty(0)
        self.valid: npt.NDArray[np.bool_] | None = None
        self._lookup: dict[str | None, int] = {None: -1}
        self._labels: list[str] = []
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        kind = self.kind
        self.valid = None
        if kind is Kind.FLOAT:
            self.values = np.full(capacity, np.nan)
            self.put = self._put_float
        elif kind is Kind.TEXT:
            self.values = np.full(capacity, -1, dtype=np.int32)
            self.put = self._put_text
        else:
            self.values = np.zeros(capacity, dtype=np.int64 if kind is Kind.INT else np.bool_)
            self.valid = np.zeros(capacity, dtype=np.bool_)
            self.put = self._put_int if kind is Kind.INT else self._put_bool

    def _put_float(self, slot: int, value: object) -> bool:
        if type(value) is float or type(value) is int:
            self.values[slot] = value
            return True
        return False

    def _put_int(self, slot: int, value: object) -> bool:
        if type(value) is int:
            self.values[slot] = value
            self.valid[slot] = True  # type: ignore[index]
            return True
        return False

    def _put_bool(self, slot: int, value: object) -> bool:
        if type(value) is bool:
            self.values[slot] = value
            self.valid[slot] = True  # type: ignore[index]
            return True
        return False

    def _put_text(self, slot: int, value: object) -> bool:
        if type(value) is str:
            code = self._lookup.get(value)
            self.values[slot] = self._add(value) if code is None else code
            return True
        return False

    def put_text(self, slot: int, value: bool | int | float | str) -> None:
        """Store any scalar as its text in this ``TEXT`` column."""
        self._put_text(slot, to_text(value))

    def _add(self, label: str) -> int:
        code = len(self._labels)
        self._labels.append(label)
        self._lookup[label] = code
        return code

    @property
    def label_count(self) -> int:
        """Number of distinct texts held by a ``TEXT`` column's dictionary."""
        return len(self._labels)

    @property
    def nbytes(self) -> int:
        """Bytes held by the column's arrays (not counting the label dictionary)."""
        return int(self.values.nbytes + (0 if self.valid is None else self.valid.nbytes))

    def accepts(self, types: Iterable[type]) -> bool:
        """Whether values of all these types (``NoneType`` allowed) fit without a change."""
        allowed = _ACCEPTED[self.kind]
        return all(kind is _NONE or kind in allowed for kind in types)

    def clear(self, lo: int, hi: int) -> None:
        """Mark slots ``[lo, hi)`` missing."""
        if self.valid is not None:
            self.valid[lo:hi] = False
        elif self.kind is Kind.FLOAT:
            self.values[lo:hi] = np.nan
        else:
            self.values[lo:hi] = -1

    def encode(self, values: list[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]:
        """Encode fitting values (``None`` for missing) into arrays for :meth:`put_many`."""
        if self.kind is Kind.FLOAT:
            return np.array(values, dtype=np.float64), None
        if self.kind is Kind.TEXT:
            lookup = self._lookup
            first = values[0] if values else None
            # values[-1] first: a one-element probe saves the count on varied columns.
            if first is not None and values[-1] == first and values.count(first) == len(values):
                # One repeated text (a channel, an event type): no per-row lookups.
                code = lookup.get(first)
                return np.full(
                    len(values), self._add(first) if code is None else code, np.int32
                ), None
            try:
                return np.array(list(map(lookup.get, values)), dtype=np.int32), None
            except TypeError:  # a None code: new labels, added in first-seen order
                for label in dict.fromkeys(values):
                    if label not in lookup:
                        self._add(label)
            return np.array(list(map(lookup.get, values)), dtype=np.int32), None
        valid = np.fromiter((value is not None for value in values), np.bool_, len(values))
        filled = values if valid.all() else [False if v is None else v for v in values]
        dtype = np.int64 if self.kind is Kind.INT else np.bool_
        return np.array(filled, dtype=dtype), valid

    def put_many(
        self, lo: int, hi: int, encoded: tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]
    ) -> None:
        """Store encoded values into slots ``[lo, hi)``."""
        self.values[lo:hi] = encoded[0]
        if self.valid is not None:
            self.valid[lo:hi] = encoded[1]

    def convert(self, kind: Kind) -> None:
        """Change the column's kind in place, converting every stored value."""
        old_values, old_valid, old_kind = self.values, self.valid, self.kind
        self.kind = kind
        self._allocate(len(old_values))
        if old_valid is None:
            present = ~np.isnan(old_values) if old_kind is Kind.FLOAT else old_values >= 0
        else:
            present = old_valid
        if kind is Kind.FLOAT:
            self.values[present] = old_values[present]
            return
        if old_kind is Kind.TEXT:  # pragma: no cover - TEXT is the top kind
            raise AssertionError("a TEXT column never converts")
        distinct, inverse = np.unique(old_values[present], return_inverse=True)
        texts = [to_text(item) for item in distinct.tolist()]
        codes = [self._lookup.get(text) for text in texts]
        mapping = np.array(
            [
                self._add(text) if code is None else code
                for text, code in zip(texts, codes, strict=True)
            ],
            dtype=np.int32,
        )
        self.values[present] = mapping[inverse] if len(mapping) else -1

    def resize(self, capacity: int, segments: Segments) -> None:
        """Reallocate to ``capacity`` slots, moving the ``segments`` rows to slots 0..n."""
        values, valid = self.gather(segments)
        labels, lookup = self._labels, self._lookup
        self._allocate(capacity)
        self._labels, self._lookup = labels, lookup
        self.values[: len(values)] = values
        if self.valid is not None and valid is not None:
            self.valid[: len(valid)] = valid

    def compact(self, segments: Segments) -> None:
        """Drop labels no stored row in ``segments`` uses (keeps the dictionary bounded)."""
        labels = self._labels
        used = np.zeros(len(labels) + 1, dtype=np.bool_)
        for lo, hi in segments:
            used[self.values[lo:hi] + 1] = True
        keep = np.flatnonzero(used[1:])
        remap = np.full(len(labels) + 1, -1, dtype=np.int32)
        remap[keep + 1] = np.arange(len(keep), dtype=np.int32)
        self.values = remap[self.values + 1]
        self._labels = [labels[code] for code in keep.tolist()]
        self._lookup = {None: -1, **{label: code for code, label in enumerate(self._labels)}}

    def gather(
        self, segments: Segments, mask: npt.NDArray[np.bool_] | None = None
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]:
        """Copy the raw values (and validity) of the rows in ``segments``, optionally masked."""
        values = take(self.values, segments)
        valid = None if self.valid is None else take(self.valid, segments)
        if mask is not None:
            values = values[mask]
            valid = None if valid is None else valid[mask]
        return values, valid

    def to_pandas(self, segments: Segments, mask: npt.NDArray[np.bool_] | None = None) -> Any:
        """Return the rows in ``segments`` as a pandas-ready array of the frame dtype."""
        values, valid = self.gather(segments, mask)
        if self.kind is Kind.FLOAT:
            return values
        if self.kind is Kind.TEXT:
            return self._categorical(values)
        if valid is None or valid.all():
            return values
        if self.kind is Kind.INT:
            return pd.arrays.IntegerArray(values, ~valid)
        return pd.arrays.BooleanArray(values, ~valid)

    def to_arrow(self, segments: Segments, mask: npt.NDArray[np.bool_] | None = None) -> pa.Array:
        """Return the rows in ``segments`` as an Arrow array holding :meth:`to_pandas`'s values.

        Built from the stored arrays, not through pandas: numbers keep the copy
        :meth:`gather` made (Arrow wraps it, adding only a validity bitmap), and
        text is dictionary-encoded over the column's labels in code order (a
        label no longer held may stay in the dictionary, as an unused category).
        """
        if self.kind is Kind.TEXT:
            codes = take(self.values, segments, _index_dtype(len(self._labels)))
            return self._dictionary(codes if mask is None else codes[mask])
        values, valid = self.gather(segments, mask)
        if self.kind is Kind.FLOAT:
            missing = np.isnan(values)  # NaN is null, as from_pandas reads it (at half its cost)
            return pa.array(values, mask=missing) if missing.any() else pa.array(values)
        if valid is None or valid.all():
            return pa.array(values)
        return pa.array(values, mask=~valid)

    def _dictionary(self, codes: npt.NDArray[np.signedinteger[Any]]) -> pa.DictionaryArray:
        # With no more labels than rows, the codes index the whole label list as
        # they are (no pass over the rows beyond the null mask); a few rows of a
        # big dictionary get only the labels they use, at O(rows log rows).
        labels = self._labels
        if len(labels) > len(codes) > 0:
            used, inverse = np.unique(codes, return_inverse=True)
            codes = (inverse - int(used[0] < 0)).astype(codes.dtype)
            labels = [labels[code] for code in used[used >= 0].tolist()]
        elif len(codes) == 0:
            labels = []
        missing = codes < 0
        indices = pa.array(codes, mask=missing if missing.any() else None)
        return pa.DictionaryArray.from_arrays(indices, pa.array(labels, type=pa.string()))

    def _categorical(self, codes: npt.NDArray[np.int32]) -> pd.Categorical:
        # Categories follow first appearance in these rows, so a frame's dtype
        # depends only on its rows (replaying them rebuilds the same frame).
        first = np.full(len(self._labels) + 1, len(codes), dtype=np.int64)
        np.minimum.at(first, codes + 1, np.arange(len(codes)))
        used = np.flatnonzero(first[1:] < len(codes))
        used = used[np.argsort(first[used + 1], kind="stable")]
        remap = np.full(len(self._labels) + 1, -1, dtype=np.int32)
        remap[used + 1] = np.arange(len(used), dtype=np.int32)
        labels = self._labels
        categories = pd.Index([labels[code] for code in used.tolist()], dtype="str")
        return pd.Categorical.from_codes(remap[codes + 1], categories=categories)

    def read(self, segments: Segments) -> npt.NDArray[Any]:
        """Return the rows as plotting arrays: float64 (NaN missing) or object str/None."""
        values, valid = self.gather(segments)
        if self.kind is Kind.TEXT:
            labels = self._labels
            if len(values) < len(labels):  # O(rows), never O(dictionary)
                out = np.empty(len(values), dtype=object)
                out[:] = [labels[code] if code >= 0 else None for code in values.tolist()]
                return out
            table = np.empty(len(labels) + 1, dtype=object)
            table[1:] = labels
            return table[values + 1]  # type: ignore[no-any-return]
        out = values.astype(np.float64)
        if valid is not None:
            out[~valid] = np.nan
        return out


def take(
    array: npt.NDArray[Any], segments: Segments, dtype: npt.DTypeLike | None = None
) -> npt.NDArray[Any]:
    """Copy the slots in ``segments`` of ``array``, in order, into a new array.

    With ``dtype``, the copy is cast to it in the same pass (``same_kind`` casting).
    """
    if not segments:
        return array[:0].astype(dtype or array.dtype)
    if len(segments) == 1:
        lo, hi = segments[0]
        return array[lo:hi].astype(dtype or array.dtype, casting="same_kind")
    return np.concatenate([array[lo:hi] for lo, hi in segments], dtype=dtype, casting="same_kind")


def _index_dtype(labels: int) -> type[np.signedinteger[Any]]:
    """The narrowest signed integer holding codes ``-1 .. labels - 1``, as pandas picks."""
    if labels < 2**7:
        return np.int8
    if labels < 2**15:
        return np.int16
    return np.int32
