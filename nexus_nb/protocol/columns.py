"""Columnar ``event_batch`` frames: one channel's events as one list per field.

A client that subscribes with ``batch: {"format": "columns", ...}`` gets its
batches transposed::

    {"type": "event_batch", "channel": "telemetry.metrics", "format": "columns",
     "count": 2, "seq": [7, 8],
     "timestamp": ["2025-11-03T01:54:00.000Z", "2025-11-03T01:54:00.001Z"],
     "data": {"source": ["server-01", "server-02"], "value": [45.2, null]}}

``seq`` and ``timestamp`` are the envelopes' fields; ``data`` holds one list per
top-level key of the events' ``data`` objects, in first-seen order, with
``null`` where an event lacks the key. An event whose field is ``null`` and one
without the field are therefore the same here (as they are in a buffer's row).
Values are sent as they are: nested objects and lists stay nested.

Why: a 100-event frame is about half the bytes of the row form, and a client
decodes it into a few lists of scalars instead of 200 dicts, which is most of
what ingest into typed columns costs (see ``benchmarks/bench_client.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import orjson

__all__ = ["EventColumns", "as_messages", "event_columns"]


@dataclass(frozen=True, slots=True)
class EventColumns:
    """The events of one columnar ``event_batch`` frame, as decoded.

    Attributes:
        channel: The channel every event belongs to.
        seq: Each event's ``seq``, ascending; empty when the server sends none.
        timestamp: Each event's envelope ``timestamp``.
        data: One list per data field, ``None`` where an event lacks it.
    """

    channel: str
    seq: list[int]
    timestamp: list[Any]
    data: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.timestamp)

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> EventColumns:
        """Check a decoded columnar ``event_batch`` message and wrap it (lists not copied).

        The checks cost one pass over ``seq`` and one length check per field.

        Raises:
            ValueError: A field is missing, of the wrong type, or of another length
                than ``count``.
        """
        channel, count = message.get("channel"), message.get("count")
        stamps, seq, data = message.get("timestamp"), message.get("seq", []), message.get("data")
        if type(channel) is not str:
            raise ValueError("a columnar event_batch needs a channel (string)")
        if type(count) is not int or count < 0:
            raise ValueError("a columnar event_batch needs a count (int >= 0)")
        if type(stamps) is not list or len(stamps) != count:
            raise ValueError("timestamp must be a list of count values")
        if type(seq) is not list or (seq and len(seq) != count):
            raise ValueError("seq must be a list of count ints")
        # An identity count over the types: two thirds of what set(map(type, seq)) costs.
        if seq and list(map(type, seq)).count(int) != count:
            raise ValueError("seq must hold ints")
        if type(data) is not dict:
            raise ValueError("data must be an object of lists")
        for name, values in data.items():
            if type(values) is not list or len(values) != count:
                raise ValueError(f"data.{name} must be a list of count values")
        return cls(channel, seq, stamps, data)

    @classmethod
    def concat(cls, parts: Sequence[EventColumns]) -> EventColumns:
        """Join batches of one channel end to end (fields missing in a part become ``None``).

        Raises:
            ValueError: ``parts`` is empty or spans channels.
        """
        if not parts:
            raise ValueError("nothing to concatenate")
        if len(parts) == 1:
            return parts[0]
        channel = parts[0].channel
        if any(part.channel != channel for part in parts):
            raise ValueError("batches of different channels cannot be joined")
        names = list(dict.fromkeys(chain.from_iterable(part.data for part in parts)))
        data: dict[str, list[Any]] = {name: [] for name in names}
        seq: list[int] = []
        stamps: list[Any] = []
        for part in parts:
            size = len(part)
            for name in names:
                values = part.data.get(name)
                data[name].extend(values if values is not None else repeat(None, size))
            seq.extend(part.seq or ())
            stamps.extend(part.timestamp)
        # A seq list covers every event or none.
        return cls(channel, seq if len(seq) == len(stamps) else [], stamps, data)

    def after(self, seq: int) -> EventColumns:
        """The events with a ``seq`` above ``seq`` (all of them when there is no seq)."""
        if not self.seq or self.seq[0] > seq:
            return self
        start = next((i for i, n in enumerate(self.seq) if n > seq), len(self.seq))
        return EventColumns(
            self.channel,
            self.seq[start:],
            self.timestamp[start:],
            {name: values[start:] for name, values in self.data.items()},
        )

    def messages(self) -> list[dict[str, Any]]:
        """The events as ``event`` messages (fields that are ``None`` left out)."""
        names = list(self.data)
        rows = zip(*self.data.values(), strict=True) if names else repeat((), len(self))
        seqs: Sequence[int | None] = self.seq or [None] * len(self)
        messages = []
        for stamp, seq, values in zip(self.timestamp, seqs, rows, strict=False):
            message: dict[str, Any] = {
                "type": "event",
                "channel": self.channel,
                "timestamp": stamp,
                "data": {k: v for k, v in zip(names, values, strict=True) if v is not None},
            }
            if seq is not None:
                message["seq"] = seq
            messages.append(message)
        return messages


def as_messages(events: list[Any] | EventColumns) -> list[Any]:
    """Event messages as they are, or a columnar batch's events rebuilt as messages."""
    return events.messages() if isinstance(events, EventColumns) else events


def event_columns(
    channel: str,
    seqs: Sequence[int],
    timestamps: Sequence[str],
    datas: Sequence[Mapping[str, Any]],
) -> bytes:
    """Encode events as one columnar ``event_batch`` frame.

    Args:
        channel: Their channel.
        seqs: Their ``seq``, ascending (empty for none).
        timestamps: Their envelope timestamps.
        datas: Their ``data`` objects.
    """
    names = dict.fromkeys(chain.from_iterable(datas))
    # map(dict.get, ...) runs in C: about a third of a comprehension's cost.
    get: Any = dict.get if set(map(type, datas)) == {dict} else Mapping.get
    message = {
        "type": "event_batch",
        "channel": channel,
        "format": "columns",
        "count": len(timestamps),
        "seq": list(seqs),
        "timestamp": list(timestamps),
        "data": {name: list(map(get, datas, repeat(name))) for name in names},
    }
    return orjson.dumps(message)
