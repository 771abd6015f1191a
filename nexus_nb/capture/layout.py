"""Each channel's own column order, kept with a capture of several channels.

A capture is one table: its columns are in first-seen order over every channel,
so a channel whose fields came in another order than a busier channel's would
replay into a buffer with its columns shuffled. The recorder therefore keeps,
per channel, the order a buffer of that channel alone gives (first seen, nested
families together), and writes it into the capture (Parquet key-value metadata
``nexus_nb.columns``); :func:`~nexus_nb.capture.read_capture` puts it in
``frame.attrs["nexus_nb.columns"]`` and replay follows it. CSV has no place for
it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from nexus_nb.columnar.flatten import Staged, flatten_run, runs
from nexus_nb.columnar.table import insert_position
from nexus_nb.protocol import EventColumns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ATTRS_KEY", "METADATA_KEY", "ColumnOrders"]

METADATA_KEY = "nexus_nb.columns"
"""Parquet key-value metadata key of the per-channel column orders (JSON)."""

ATTRS_KEY = "nexus_nb.columns"
"""``DataFrame.attrs`` key under which a read capture carries them."""


class ColumnOrders:
    """Per channel, the data columns in the order a buffer of that channel would hold them.

    ``timestamp`` and ``channel`` are not listed (they always come first).
    """

    def __init__(self, orders: Mapping[str, Sequence[str]] | None = None) -> None:
        self._orders: dict[str, list[str]] = {}
        for channel, names in (orders or {}).items():
            self.add(channel, names)

    def __bool__(self) -> bool:
        return bool(self._orders)

    def as_dict(self) -> dict[str, list[str]]:
        """A copy: channel -> column names."""
        return {channel: list(names) for channel, names in self._orders.items()}

    def add(self, channel: str, names: Iterable[str]) -> None:
        """Take note of ``channel``'s columns, in first-seen order; known ones stay put."""
        order = self._orders.setdefault(channel, [])
        for name in names:
            if name not in order and name not in ("timestamp", "channel"):
                order.insert(insert_position(order, name), name)

    def add_messages(self, messages: Sequence[object | EventColumns]) -> None:
        """Take note of the columns of event messages (or columnar batches), channel by channel."""
        groups: dict[str, list[Staged]] = {}
        for item in messages:
            if isinstance(item, EventColumns):
                groups.setdefault(item.channel, []).append(item)
            elif isinstance(item, Mapping):
                channel = item.get("channel")
                groups.setdefault(channel if type(channel) is str else "", []).append(item)
        for channel, group in groups.items():
            for run in runs(group):
                block, _ = flatten_run(run, expected=self._orders.get(channel, ()))
                if len(block.times):
                    self.add(channel, block.columns)

    def add_frame(self, frame: pd.DataFrame, events: Sequence[object | EventColumns]) -> None:
        """Take note of the channels in a frame built from ``events``.

        One channel: the frame's own order is that channel's. Several: the
        events are flattened again per channel, but only when some channel has
        a column it never had (a few vectorized checks otherwise).
        """
        if not len(frame):
            return
        names = [name for name in frame.columns if name not in ("timestamp", "channel")]
        unique = frame["channel"].unique()
        if len(unique) == 1:
            self.add(str(unique[0]), names)
            return
        channels = frame["channel"].to_numpy()
        present = {name: frame[name].notna().to_numpy() for name in names}
        for channel in unique:
            rows = channels == channel
            known = set(self._orders.get(str(channel), ()))
            if any(name not in known and present[name][rows].any() for name in names):
                self.add_messages(events)
                return

    def encode(self) -> bytes:
        """JSON, for the capture's metadata."""
        return orjson.dumps(self._orders)

    @classmethod
    def decode(cls, raw: bytes | str | None) -> ColumnOrders:
        """Read :meth:`encode`'s output; anything malformed reads as no orders."""
        if not raw:
            return cls()
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return cls()
        if not isinstance(value, dict):
            return cls()
        return cls(
            {
                channel: [name for name in names if isinstance(name, str)]
                for channel, names in value.items()
                if isinstance(names, list)
            }
        )

    def merge(self, other: ColumnOrders) -> None:
        """Add every channel order of ``other`` (a later part of the same capture)."""
        for channel, names in other._orders.items():
            self.add(channel, names)
