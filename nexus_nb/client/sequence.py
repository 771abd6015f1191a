"""Per-channel sequence tracking: drop replayed duplicates, build ``resume`` requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nexus_nb.protocol import EventColumns

__all__ = ["SeqTracker"]


class SeqTracker:
    """The last ``seq`` seen per channel within one server epoch.

    Servers without the ``seq`` extension (the reference) send events without it;
    those always pass.
    """

    def __init__(self) -> None:
        self.epoch: str | None = None
        self.last: dict[str, int] = {}

    def start_epoch(self, epoch: str | None) -> bool:
        """Record the epoch announced by a (re)connection; return whether it changed.

        A change means the server restarted and numbers seq from 1 again, so the
        tracked values are forgotten rather than used to drop the new server's events.
        """
        changed = self.epoch is not None and epoch != self.epoch
        if changed or epoch is None:
            self.last.clear()
        self.epoch = epoch
        return changed

    def accept(self, channel: str, message: Mapping[str, Any]) -> bool:
        """Whether ``message`` is new; records its ``seq`` when it is."""
        seq = message.get("seq")
        if type(seq) is not int:
            return True
        if seq <= self.last.get(channel, 0):
            return False
        self.last[channel] = seq
        return True

    def accept_batch(self, channel: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The new events of one ``event_batch`` frame, in order; records their seqs.

        Servers put a channel's events in a frame in ``seq`` order, so when the
        first is new and the last is highest the whole frame is new: checked with
        two lookups instead of one per event. Otherwise each event is checked.
        """
        if not events:
            return events
        first, final = events[0].get("seq"), events[-1].get("seq")
        if type(first) is int and type(final) is int:
            if self.last.get(channel, 0) < first <= final:
                self.last[channel] = final
                return events
        elif first is None and final is None:
            return events
        return [e for e in events if self.accept(channel, e)]

    def accept_columns(self, columns: EventColumns) -> EventColumns:
        """The new events of one columnar ``event_batch`` frame; records their seqs."""
        if not columns.seq:
            return columns
        last = self.last.get(columns.channel, 0)
        self.last[columns.channel] = max(last, columns.seq[-1])
        return columns.after(last)

    def resume_point(self, channels: list[str]) -> dict[str, int]:
        """The ``resume.seq`` object for ``channels``: the last seq seen on each.

        Channels with no event seen yet are left out: resuming them from 0 would
        replay events published before the subscription existed.
        """
        return {channel: self.last[channel] for channel in channels if channel in self.last}
