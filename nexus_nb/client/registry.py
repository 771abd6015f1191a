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

    Copy on write: :meth:`add` and :meth:`remove` (on the reader's thread) build
    new groups and swap them in, so :meth:`view` may run on any thread and sees
    one state or the next, never a dict being changed.
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
        groups = dict(self._groups)
        groups[key] = {**groups.get(key, {}), **dict.fromkeys(channels)}
        self._groups = groups

    def remove(self, channels: Sequence[str]) -> None:
        """Forget ``channels`` under every filter."""
        gone = set(channels)
        groups = {}
        for key, names in self._groups.items():
            kept = {name: None for name in names if name not in gone}
            if kept:
                groups[key] = kept
        self._groups = groups

    def view(self) -> dict[str, list[dict[str, Any] | None]]:
        """Channel -> the filters subscribed on it (``None`` for no filter)."""
        out: dict[str, list[dict[str, Any] | None]] = {}
        groups = self._groups  # one snapshot: writers swap, never change, a dict
        for (filters, _), channels in groups.items():
            for channel in channels:
                out.setdefault(channel, []).append(orjson.loads(filters) or None)
        return out

    def plan(self) -> list[tuple[list[str], dict[str, Any], protocol.Batch | None]]:
        """The ``subscribe`` requests that restore everything: (channels, filters, batch)."""
        return [
            (list(channels), orjson.loads(filters), batch)
            for (filters, batch), channels in self._groups.items()
        ]
