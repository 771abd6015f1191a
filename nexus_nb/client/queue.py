"""A bounded queue of events for ``async for event in client``."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["EventStream"]


class EventStream:
    """One consumer's view of the event flow, as an async iterator.

    Holds at most ``maxlen`` events; when full, the **oldest** event is dropped
    and ``on_drop`` is called (the client counts it in ``stats.dropped``), so a
    slow consumer sees the freshest data and memory stays bounded. Iteration ends
    once the client is closed and the queue is drained; it raises the client's
    error instead when the client closed because of one.
    """

    def __init__(self, maxlen: int, on_drop: Callable[[int], None]) -> None:
        self._items: deque[dict[str, Any]] = deque()
        self._maxlen = maxlen
        self._on_drop = on_drop
        self._wakeup = asyncio.Event()
        self._end: BaseException | None = None
        self._ended = False
        self.dropped = 0

    def __aiter__(self) -> EventStream:
        return self

    def put(self, events: list[dict[str, Any]]) -> None:
        """Queue ``events``, dropping the oldest beyond ``maxlen``."""
        items = self._items
        items.extend(events)
        excess = len(items) - self._maxlen
        if excess > 0:
            for _ in range(excess):
                items.popleft()
            self.dropped += excess
            self._on_drop(excess)
        self._wakeup.set()

    def end(self, error: BaseException | None = None) -> None:
        """Finish the stream after the queued events; raise ``error`` at the end if given."""
        self._ended = True
        self._end = error
        self._wakeup.set()

    async def __anext__(self) -> dict[str, Any]:
        while not self._items:
            if self._ended:
                if self._end is not None:
                    raise self._end
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popleft()
