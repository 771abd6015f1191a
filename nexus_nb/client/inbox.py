"""Handing decoded events and messages on: sinks, handlers, then iterators."""

from __future__ import annotations

import weakref
from typing import Any

from nexus_nb.client.listeners import Events, Listeners
from nexus_nb.client.queue import EventStream
from nexus_nb.client.state import ClientStats
from nexus_nb.protocol import as_messages

__all__ = ["Inbox"]


class Inbox:
    """Where a client's reader puts what the protocol accepted.

    It decodes nothing and drops nothing: :class:`~nexus_nb.client.protocol.ClientProtocol`
    has already parsed each frame and removed duplicates.

    Args:
        stats: The client's counters; iterators' drops count in ``stats.dropped``.
        listeners: The client's handlers and sinks.
    """

    def __init__(self, stats: ClientStats, listeners: Listeners) -> None:
        self.stats = stats
        self.listeners = listeners
        # Weak: an iterator abandoned by an interrupted cell stops queueing once collected.
        self.streams: weakref.WeakSet[EventStream] = weakref.WeakSet()

    def open_stream(self, maxlen: int) -> EventStream:
        """A new iterator fed from now on; its drops count in ``stats.dropped``."""
        stream = EventStream(maxlen, self._count_drop)
        self.streams.add(stream)
        return stream

    def _count_drop(self, n: int) -> None:
        self.stats.dropped += n

    def end(self, error: BaseException | None) -> None:
        """End every iterator (the client is closed)."""
        for stream in list(self.streams):
            stream.end(error)

    def wants_events(self) -> bool:
        """Whether a sink, an ``event`` handler or an iterator would get events now."""
        listeners = self.listeners
        return bool(
            listeners.sinks
            or listeners.column_sinks
            or listeners.handlers.get("event")
            or len(self.streams)
        )

    def deliver(self, channel: str, events: Events) -> None:
        """Hand one frame's events to the sinks, the ``event`` handlers, then each iterator.

        The per-frame hot path: events are rebuilt from columns at most once,
        and only when a sink, handler or iterator needs them as messages.
        """
        listeners = self.listeners
        messages = None
        if listeners.sinks or listeners.column_sinks or listeners.handlers.get("event"):
            messages = listeners.emit_events(channel, events)
        if self.streams:
            if messages is None:
                messages = as_messages(events)
            for stream in self.streams:
                stream.put(messages)

    def notify(self, message_type: str, message: dict[str, Any]) -> None:
        """Call the handlers of ``message_type`` (a server message, or local ``state``...)."""
        self.listeners.emit(message_type, message)
