"""The one rule that turns an event message into a flat row, and back.

An event message is the envelope the server sends::

    {"type": "event", "channel": "telemetry.metrics",
     "timestamp": "2025-11-03T01:54:00.000Z",
     "data": {"source": "server-01", "value": 45.2, "timestamp": "..."}}

Its row holds ``timestamp`` (event time as int nanoseconds since the epoch, UTC),
``channel`` and the data's fields flattened:

* Event time is the data's own ``timestamp`` when it is a parseable ISO-8601
  string, else the envelope's. Neither parseable: the event is rejected
  (:attr:`Rejection.NO_TIMESTAMP`).
* Nested objects become dotted columns (``{"a": {"b": 1}}`` -> ``a.b``); an
  empty object leaves no column. Keys that already contain dots are not escaped:
  ``{"a.b": 1}`` and ``{"a": {"b": 1}}`` land in the same column and replay nested.
* Lists become their JSON text (a ``str``) and stay text on replay.
* ``null`` is dropped: a missing field and a null field are the same thing.
* A top-level data key that collides with a row column (``channel``, or a
  ``timestamp`` that was not used as event time) is stored as ``data.<key>``.
* Integers outside int64 become floats. Envelope keys other than ``channel``
  and ``timestamp`` (``type``, ``seq``...) are not kept.

Timestamps are parsed by :mod:`nexus_nb.columnar.timestamp`.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain, groupby, repeat
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from nexus_nb.columnar.timestamp import parse_timestamp, parse_timestamps
from nexus_nb.exceptions import SchemaError
from nexus_nb.protocol import EventColumns

__all__ = [
    "Block",
    "Rejection",
    "flatten",
    "flatten_columns",
    "flatten_many",
    "flatten_or_reject",
    "flatten_run",
    "flattened",
    "runs",
    "to_text",
    "unflatten",
]

Scalar = bool | int | float | str

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_RESERVED = frozenset({"timestamp", "channel"})
_SCALARS = frozenset({str, float, bool, int})
_NONE = type(None)
_FIELD_TYPES = frozenset({str, float, bool, int, _NONE})


class Rejection(enum.StrEnum):
    """Why a message could not be turned into a row."""

    NOT_OBJECT = "not_object"
    DATA_NOT_OBJECT = "data_not_object"
    NO_TIMESTAMP = "no_timestamp"


def to_text(value: Scalar) -> str:
    """Render a scalar as text the way JSON/JavaScript would print it.

    Integral floats print without ``.0`` (``45.0`` -> ``"45"``) so that a value
    turns into the same text whether it was stored as int or float first.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def flatten_or_reject(message: object) -> dict[str, Scalar] | Rejection:
    """Flatten an event message into a row, or say why it cannot be.

    This is the hot path of every buffer and recorder: it does not raise.

    Returns:
        ``{"timestamp": ns, "channel": str, **fields}`` in the data's key order,
        or the :class:`Rejection` reason.
    """
    if type(message) is not dict and not isinstance(message, Mapping):
        return Rejection.NOT_OBJECT
    data = message.get("data")
    if type(data) is not dict and not isinstance(data, Mapping):
        return Rejection.DATA_NOT_OBJECT
    raw = data.get("timestamp")
    nanos = parse_timestamp(raw) if type(raw) is str else None
    data_time_used = nanos is not None
    if nanos is None:
        envelope = message.get("timestamp")
        nanos = parse_timestamp(envelope) if type(envelope) is str else None
        if nanos is None:
            return Rejection.NO_TIMESTAMP
    channel = message.get("channel")
    if type(channel) is not str:
        channel = ""
    row: dict[str, Scalar] = {"timestamp": nanos, "channel": channel}
    for key, value in data.items():
        if type(key) is not str:
            key = str(key)
        kind = type(value)
        # Scalars go in directly; a reserved key they overwrite is put right below.
        if kind is str or kind is float or kind is bool:
            row[key] = value
        elif kind is int:
            row[key] = value if _INT64_MIN <= value <= _INT64_MAX else float(value)
        elif value is not None:
            _flatten_value(row, "data." + key if key in _RESERVED else str(key), value)
    if type(raw) in _SCALARS:
        if not data_time_used:
            row["data.timestamp"] = row["timestamp"]
        row["timestamp"] = nanos
    if "channel" in data and type(data["channel"]) in _SCALARS:
        row["data.channel"] = row["channel"]
        row["channel"] = channel
    return row


def _flatten_value(row: dict[str, Scalar], key: str, value: object) -> None:
    if isinstance(value, Mapping):
        for inner, item in value.items():
            _flatten_value(row, f"{key}.{inner}", item)
    elif isinstance(value, bool | str):
        row[key] = value
    elif isinstance(value, int):
        row[key] = value if _INT64_MIN <= value <= _INT64_MAX else float(value)
    elif isinstance(value, float):
        if value == value:  # NaN means missing
            row[key] = value
    elif value is not None:
        row[key] = orjson.dumps(value, default=str).decode()


def flatten(message: object) -> dict[str, Scalar]:
    """Flatten an event message into a row (see the module docstring for the rule).

    Raises:
        SchemaError: The message is not an object, its ``data`` is not an object,
            or it carries no parseable timestamp.
    """
    row = flatten_or_reject(message)
    if isinstance(row, Rejection):
        raise SchemaError(f"event message cannot be stored: {row.value}")
    return row


def unflatten(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild a nested data object from flattened fields.

    Dotted names nest again; ``None`` and NaN values are dropped. The row columns
    ``timestamp`` and ``channel`` must not be passed (the caller restores them).

    Raises:
        SchemaError: One name is both a value and a parent of another
            (``a`` and ``a.b`` in the same row).
    """
    data: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None or (isinstance(value, float) and value != value):
            continue
        *parents, leaf = name.split(".")
        node = data
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SchemaError(f"field {name!r} nests under a value")
            node = child
        if isinstance(node.get(leaf), dict):
            raise SchemaError(f"field {name!r} is also a parent")
        node[leaf] = value
    return data


@dataclass(frozen=True, slots=True)
class Block:
    """Many flattened rows held as columns.

    Attributes:
        times: Event time of each row, int ns.
        columns: ``channel`` first, then each field in first-seen order; one
            value per row, ``None`` where the row lacks the field.
        types: The Python types found in each column (``NoneType`` included).
    """

    times: npt.NDArray[np.int64]
    columns: dict[str, list[Scalar | None]]
    types: dict[str, set[type]]
    rejected: tuple[Rejection, ...] = ()
    """Why events of the run it was made from are not among its rows (see :func:`flattened`)."""

    def __len__(self) -> int:
        return len(self.times)

    def rows(self) -> list[dict[str, Scalar | None]]:
        """The rows one by one, as :func:`flatten_or_reject` gives them (``None``: no field)."""
        names = ["timestamp", *self.columns]
        return [
            dict(zip(names, values, strict=True))
            for values in zip(self.times.tolist(), *self.columns.values(), strict=True)
        ]


def flatten_many(
    messages: Sequence[object], *, expected: Sequence[str] = ()
) -> tuple[Block, list[Rejection]]:
    """Flatten many event messages at once into columns, by the same rule as :func:`flatten`.

    Messages whose data is flat (scalars only), whose data carries a parseable
    ``timestamp`` and no ``channel`` key take a column-at-a-time path (a few list
    comprehensions per field instead of a dict per event); any other batch is
    flattened event by event. Either way the result equals flattening each
    message and stacking the rows.

    Args:
        messages: Event messages.
        expected: Field names the caller expects (e.g. the columns it already
            has); when they account for every key of the batch, the pass that
            collects the keys in first-seen order is skipped and the columns
            come in ``expected`` order. Only a speed hint.

    Returns:
        The rows that could be stored, and the rejection of each one that could not.
    """
    fast = _flatten_flat(messages, expected)
    if fast is not None:
        return fast, []
    rows: list[dict[str, Scalar]] = []
    rejections: list[Rejection] = []
    for message in messages:
        row = flatten_or_reject(message)
        if isinstance(row, Rejection):
            rejections.append(row)
        else:
            rows.append(row)
    names = dict.fromkeys(chain.from_iterable(rows))
    names.pop("timestamp", None)
    columns: dict[str, list[Scalar | None]] = {
        name: [row.get(name) for row in rows] for name in names
    }
    times = np.array([row["timestamp"] for row in rows], dtype=np.int64)
    types = {name: _types_of(values) for name, values in columns.items()}
    return Block(times, columns, types), rejections


def _flatten_flat(messages: Sequence[object], expected: Sequence[str]) -> Block | None:
    """The column-at-a-time path, or ``None`` when the batch needs the general one."""
    # map(dict.get, ...) and set(map(type, ...)) run in C: a few tens of ns per
    # event and field, where a dict built per event costs about a microsecond.
    # dict.get raises TypeError on anything but a dict: that is the type check.
    try:
        datas: list[Any] = list(map(dict.get, messages, repeat("data")))  # type: ignore[arg-type]
        stamps: list[Any] = list(map(dict.get, datas, repeat("timestamp")))
    except TypeError:
        return None
    times = _event_times(stamps)
    if times is None:
        return None
    channels: list[Any] = list(map(dict.get, messages, repeat("channel")))  # type: ignore[arg-type]
    first = channels[0]
    if (type(first) is not str or channels.count(first) != len(channels)) and set(
        map(type, channels)
    ) != {str}:
        return None
    # Every data has a timestamp (checked above): count those keys as known.
    known, cached, kinds = len(datas), {}, {}
    for name in expected:
        if name not in _RESERVED:
            found = list(map(dict.get, datas, repeat(name)))
            types = _types_of(found)
            present = len(found) - found.count(None) if _NONE in types else len(found)
            if present:
                cached[name], kinds[name] = found, types
                known += present
    if known == sum(map(len, datas)):  # the expected names cover every key
        names: list[Any] = list(cached)
    else:
        keys = dict.fromkeys(chain.from_iterable(datas))
        keys.pop("timestamp", None)
        names = list(keys)
    values = {name: cached.get(name) or list(map(dict.get, datas, repeat(name))) for name in names}
    return _scalar_block(
        times, channels, values, lambda name: _first_seen(datas, name, values[name]), kinds
    )


def flatten_columns(
    columns: EventColumns, *, expected: Sequence[str] = ()
) -> tuple[Block, list[Rejection]]:
    """Flatten a columnar batch, by the same rule as :func:`flatten`.

    When every event's data has an ISO ``timestamp`` and only scalar fields, the
    lists become the block's columns as they are (no dict per event: about a
    third of the cost of :func:`flatten_many` on the same events as messages).
    Otherwise the events are rebuilt as messages and flattened one by one.

    One difference from flattening the messages: when a field's first value in
    the batch is ``null``, its column's position among the new columns follows
    the batch's field order rather than that event's own key order.

    Args:
        columns: The batch.
        expected: As for :func:`flatten_many` (used on the general path only).
    """
    count = len(columns)
    stamps = columns.data.get("timestamp")
    if count and stamps is not None:
        times = _event_times(stamps)
        if times is not None:
            values = {name: v for name, v in columns.data.items() if name != "timestamp"}
            order = {name: i for i, name in enumerate(values)}
            block = _scalar_block(
                times,
                [columns.channel] * count,
                values,
                lambda name: (_first_value(values[name], count), order[name]),
            )
            if block is not None:
                return block, []
    return flatten_many(columns.messages(), expected=expected)


Staged = Mapping[str, Any] | EventColumns | Block
"""One staged item: an event message, a columnar batch of events, or events already flattened."""


def runs(staged: Sequence[Staged]) -> Iterator[list[Mapping[str, Any]] | EventColumns | Block]:
    """Split staged items into runs of one kind, in order: messages, one joined batch, or a block.

    Each run is then flattened in one go (:func:`flatten_run`); a block is one already.
    """
    for kind, run in groupby(staged, key=type):  # messages of two mapping types: two runs
        if kind is EventColumns:
            yield EventColumns.concat(list(run))  # type: ignore[arg-type]
        elif kind is Block:
            yield from run  # type: ignore[misc]
        else:
            yield list(run)  # type: ignore[arg-type]


def flattened(run: Sequence[object] | EventColumns, *, expected: Sequence[str] = ()) -> Block:
    """Flatten one run now, its rejections carried in the block, to be stored later.

    For a producer that hands events to a buffer from another thread: flattened
    where they arrive, the events' dicts are freed while still young, instead
    of ageing in a queue through the garbage collector's generations.
    ``expected`` is :func:`flatten_many`'s hint (the previous block's columns do).
    """
    block, rejections = flatten_run(run, expected=expected)
    return replace(block, rejected=tuple(rejections)) if rejections else block


def flatten_run(
    run: Sequence[object] | EventColumns | Block, *, expected: Sequence[str] = ()
) -> tuple[Block, list[Rejection]]:
    """Flatten one run (see :func:`runs`): :func:`flatten_columns` or :func:`flatten_many`."""
    if isinstance(run, Block):
        return run, list(run.rejected)
    if isinstance(run, EventColumns):
        return flatten_columns(run, expected=expected)
    return flatten_many(run, expected=expected)


def _event_times(stamps: list[Any]) -> npt.NDArray[np.int64] | None:
    """Parse ISO timestamps into int ns, or ``None`` when one is not a time (or not text)."""
    times = parse_timestamps(stamps)
    if times is None:
        if set(map(type, stamps)) != {str}:
            return None
        parsed = list(map(parse_timestamp, stamps))
        if None in parsed:
            return None
        times = np.array(parsed, dtype=np.int64)
    return times


def _scalar_block(
    times: npt.NDArray[np.int64],
    channels: list[Any],
    values: dict[str, list[Any]],
    first_seen: Callable[[str], tuple[int, int]],
    kinds: Mapping[str, set[type]] | None = None,
) -> Block | None:
    """Check columns of scalar fields and make them a block, or ``None`` if they are not.

    ``first_seen(name)`` orders the columns when some value is missing (only
    then); ``kinds`` holds the value types of columns the caller already typed.
    """
    if "channel" in values or set(map(type, values)) - {str}:
        return None
    columns: dict[str, list[Scalar | None]] = {"channel": channels}
    found: dict[str, set[type]] = {"channel": {str}}
    for name, column in values.items():
        types = kinds[name] if kinds and name in kinds else _types_of(column)
        if not types <= _FIELD_TYPES:
            return None
        if int in types and not _fits_int64(column, types):
            return None
        columns[name] = column
        found[name] = types
    if len(values) > 1 and any(type(None) in types for types in found.values()):
        # A null is no field: order by each field's first non-null value, as
        # flattening event by event would (it matters for new columns only).
        order = sorted(values, key=first_seen)
        columns = {"channel": channels, **{name: columns[name] for name in order}}
    return Block(times, columns, found)


def _types_of(values: list[Any]) -> set[type]:
    """The types of the values (``NoneType`` for ``None``), exactly as ``set(map(type, values))``.

    Two C passes (``map`` and an identity ``count``) when all share one type, the
    usual case: ~14 ns per value, where building the set costs ~20.
    """
    kinds = list(map(type, values))
    if kinds and kinds.count(kinds[0]) == len(kinds):
        return {kinds[0]}
    return set(kinds)


def _fits_int64(values: list[Any], types: set[type]) -> bool:
    """Whether every ``int`` among the values fits int64 (``min``/``max`` when all are ints)."""
    if types == {int}:
        return bool(min(values) >= _INT64_MIN and max(values) <= _INT64_MAX)
    return all(_INT64_MIN <= value <= _INT64_MAX for value in values if type(value) is int)


def _first_value(values: list[Any], count: int) -> int:
    """The row of the first non-null value (``count`` when there is none)."""
    present = list(map(operator.is_not, values, repeat(None)))
    return present.index(True) if True in present else count


def _first_seen(datas: list[dict[str, Any]], name: str, values: list[Any]) -> tuple[int, int]:
    """(row, position in that row) of a field's first non-null value."""
    row = _first_value(values, len(datas))
    return (row, list(datas[row]).index(name) if row < len(datas) else 0)
