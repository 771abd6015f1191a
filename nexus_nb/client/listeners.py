"""Handlers by message type and per-frame sinks, called so that one failing never stops the rest."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from nexus_nb.protocol import EventColumns, as_messages

__all__ = ["ColumnSink", "Events", "Handler", "Listeners", "Sink"]

log = logging.getLogger("nexus_nb.client")
T = TypeVar("T")

Handler = Callable[[dict[str, Any]], object]
Sink = Callable[[str, list[dict[str, Any]]], object]
Events = list[dict[str, Any]] | EventColumns
"""One frame's events: event messages, or the columns of a columnar batch."""
ColumnSink = Callable[[str, Events], object]


class Listeners:
    """The callbacks registered on one client.

    Callbacks are synchronous and run on the event loop inside the reader: keep
    them short. One that raises (or returns a coroutine, which is closed unrun)
    is logged and counted in :attr:`errors`; the reader carries on.
    """

    def __init__(self) -> None:
        self.handlers: dict[str, list[Handler]] = {}
        self.sinks: list[Sink] = []
        self.column_sinks: list[ColumnSink] = []
        self.errors = 0
        self.last_error: str | None = None

    # Each change makes a fresh list, so emitting while a callback (un)registers stays safe.

    def on(self, message_type: str, fn: Handler) -> Callable[[], None]:
        """Call ``fn(message)`` for each message of ``message_type``; return the remover."""
        self.handlers[message_type] = [*self.handlers.get(message_type, ()), fn]

        def remove() -> None:
            self.handlers[message_type] = _without(self.handlers.get(message_type, []), fn)

        return remove

    def add_sink(self, fn: Sink) -> Callable[[], None]:
        """Call ``fn(channel, messages)`` once per event frame; return the remover."""
        self.sinks = [*self.sinks, fn]

        def remove() -> None:
            self.sinks = _without(self.sinks, fn)

        return remove

    def add_column_sink(self, fn: ColumnSink) -> Callable[[], None]:
        """Call ``fn(channel, events)`` once per event frame, columns as they came."""
        self.column_sinks = [*self.column_sinks, fn]

        def remove() -> None:
            self.column_sinks = _without(self.column_sinks, fn)

        return remove

    def wants(self, message_type: str) -> bool:
        """Whether any handler listens to ``message_type``."""
        return bool(self.handlers.get(message_type))

    def emit(self, message_type: str, message: dict[str, Any]) -> None:
        """Call every handler of ``message_type`` with ``message``."""
        for fn in self.handlers.get(message_type, ()):
            try:
                result = fn(message)
            except Exception as exc:
                self._failed(fn, exc)
            else:
                if inspect.iscoroutine(result):
                    result.close()
                    self._failed(fn, TypeError("handlers must be synchronous functions"))

    def emit_events(self, channel: str, events: Events) -> list[dict[str, Any]] | None:
        """Hand one frame's events to the sinks, then to the ``event`` handlers.

        Returns:
            The events as messages when they had to be rebuilt from columns for
            a sink or handler (so the caller need not rebuild them again).
        """
        for column_sink in self.column_sinks:
            try:
                column_sink(channel, events)
            except Exception as exc:
                self._failed(column_sink, exc)
        if not self.sinks and not self.handlers.get("event"):
            return None
        messages = as_messages(events)
        for sink in self.sinks:
            try:
                sink(channel, messages)
            except Exception as exc:
                self._failed(sink, exc)
        if self.handlers.get("event"):
            for message in messages:
                self.emit("event", message)
        return messages

    def _failed(self, fn: object, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"callback {getattr(fn, '__qualname__', fn)!s} raised {exc!r}"
        log.error("nexus_nb client %s", self.last_error, exc_info=exc)


def _without(callbacks: list[T], fn: T) -> list[T]:
    """A copy of ``callbacks`` without (the first) ``fn``."""
    kept = list(callbacks)
    if fn in kept:
        kept.remove(fn)
    return kept
