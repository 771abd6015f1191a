"""The subscriptions a client keeps, so that a reconnect can ask for all of them again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from nexus_nb import protocol

__all__ = ["Registry"]

# (filters as canonical JSON, batch or None): one subscribe per key.
_Key = tuple[bytes, protocol.Batch | None]


class Registry:
    """Every (channel, filters, batch) confirmed and not unsubscribed, in request order.

    Unlike the reference client, which remembers only its last ``subscribe``
    call, every call is kept; ``unsubscribe`` removes a channel under every filter
    (as the reference server does).
    """

    def __init__(self) -> None:
        self._groups: dict[_Key, dict[str, None]] = {}

    def add(
        self,
        channels: Sequence[str],
        filters: Mapping[str, Any] | None,
        batch: protocol.Batch | None,
    ) -> None:
        """Record a confirmed subscription."""
        key: _Key = (orjson.dumps(dict(filters or {})), batch)
        self._groups.setdefault(key, {}).update(dict.fromkeys(channels))

    def remove(self, channels: Sequence[str]) -> None:
        """Forget ``channels`` under every filter."""
        for key in list(self._groups):
            kept = self._groups[key]
            for name in channels:
                kept.pop(name, None)
            if not kept:
                del self._groups[key]

    def view(self) -> dict[str, list[dict[str, Any] | None]]:
        """Channel -> the filters subscribed on it (``None`` for no filter)."""
        out: dict[str, list[dict[str, Any] | None]] = {}
        # Over snapshots (one C-level copy each): a reader thread may be changing them.
        for (filters, _), channels in list(self._groups.items()):
            for channel in list(channels):
                out.setdefault(channel, []).append(orjson.loads(filters) or None)
        return out

    def plan(self) -> list[tuple[list[str], dict[str, Any], protocol.Batch | None]]:
        """The ``subscribe`` requests that restore everything: (channels, filters, batch)."""
        return [
            (list(channels), orjson.loads(filters), batch)
            for (filters, batch), channels in self._groups.items()
        ]
