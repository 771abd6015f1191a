"""Handlers by message type and per-frame sinks, called so that one failing never stops the rest."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Handler", "Listeners", "Sink"]

log = logging.getLogger("nexus_nb.client")

Handler = Callable[[dict[str, Any]], object]
Sink = Callable[[str, list[dict[str, Any]]], object]


class Listeners:
    """The callbacks registered on one client.

    Callbacks are synchronous and run on the event loop inside the reader: keep
    them short. One that raises (or returns a coroutine, which is closed unrun)
    is logged and counted in :attr:`errors`; the reader carries on.
    """

    def __init__(self) -> None:
        self.handlers: dict[str, list[Handler]] = {}
        self.sinks: list[Sink] = []
        self.errors = 0
        self.last_error: str | None = None

    def on(self, message_type: str, fn: Handler) -> Callable[[], None]:
        """Call ``fn(message)`` for each message of ``message_type``; return the remover."""
        # A fresh list per change, so emitting while a handler (un)registers stays safe.
        self.handlers[message_type] = [*self.handlers.get(message_type, ()), fn]

        def remove() -> None:
            current = self.handlers.get(message_type, [])
            if fn in current:
                kept = list(current)
                kept.remove(fn)
                self.handlers[message_type] = kept

        return remove

    def add_sink(self, fn: Sink) -> Callable[[], None]:
        """Call ``fn(channel, events)`` once per event frame; return the remover."""
        self.sinks = [*self.sinks, fn]

        def remove() -> None:
            if fn in self.sinks:
                kept = list(self.sinks)
                kept.remove(fn)
                self.sinks = kept

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

    def emit_events(self, channel: str, events: list[dict[str, Any]]) -> None:
        """Hand one frame's events to the sinks, then to the ``event`` handlers."""
        for sink in self.sinks:
            try:
                sink(channel, events)
            except Exception as exc:
                self._failed(sink, exc)
        if self.handlers.get("event"):
            for message in events:
                self.emit("event", message)

    def _failed(self, fn: object, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"callback {getattr(fn, '__qualname__', fn)!s} raised {exc!r}"
        log.error("nexus_nb client %s", self.last_error, exc_info=exc)
