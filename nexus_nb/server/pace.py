"""Pacing: release scheduled items at their due times, in bounded batches.

One schedule serves every place that publishes at a pace: the demo traffic
(``rate`` events a second until cancelled, :meth:`DemoSource.run
<nexus_nb.server.demo.DemoSource.run>`), ``Server.replay`` (a capture at its
original offsets divided by ``speed``) and ``nexus-nb publish --rate/--speed``
(what falls due within ``min_spacing`` coalesced into one publish request).

:class:`Schedule` is the I/O-free core: given a time, which items are due and
when the next batch may go. :class:`Pacer` drives it on a :class:`Clock`, the
running loop's by default; :class:`FakeClock` is the double for tests, whose
time moves only when the pacer sleeps or the test advances it.

Due times are offsets from the start, so pacing does not drift however long
each batch takes to publish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Iterable, Iterator
from enum import Enum
from typing import Generic, Protocol, TypeVar

__all__ = ["Backlog", "Clock", "FakeClock", "LoopClock", "Pacer", "Schedule"]

T = TypeVar("T")


class Clock(Protocol):
    """Where a :class:`Pacer` reads the time and waits: monotonic seconds."""

    def time(self) -> float:
        """The current time, in seconds."""
        ...

    async def sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds (0: just let the loop run others once)."""
        ...


class LoopClock:
    """The running event loop's monotonic clock and :func:`asyncio.sleep`."""

    def time(self) -> float:
        """``loop.time()`` of the running loop."""
        return asyncio.get_running_loop().time()

    async def sleep(self, delay: float) -> None:
        """``asyncio.sleep(delay)``."""
        await asyncio.sleep(delay)


class FakeClock:
    """A clock for tests: time stands still unless :meth:`sleep` or :meth:`advance` moves it.

    ``sleep`` adds its delay at once (recorded in ``sleeps``) and still yields to
    the loop once, so a pacer under test runs as fast as the code allows and
    its timing is exact.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        """The fake time."""
        return self.now

    async def sleep(self, delay: float) -> None:
        """Move the time ``delay`` seconds on (never back) and yield to the loop once."""
        self.sleeps.append(delay)
        self.now += max(0.0, delay)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, as slow publishing or a blocked loop would."""
        self.now += seconds


class Backlog(Enum):
    """What a schedule does with items overdue by more than one batch."""

    CATCH_UP = "catch_up"
    """Release them all, ``max_batch`` at a time, as fast as they are taken."""
    SHIFT = "shift"
    """Release one batch and move the rest of the schedule later, to resume from
    now: after a blocked loop, at most one batch goes out at once (the demo's
    events are made when released, so the skipped time is simply not simulated)."""


class Schedule(Generic[T]):
    """Which of ``(offset, item)`` pairs are due at a time; no clock, no I/O.

    Args:
        items: ``(offset, item)`` pairs, offsets in seconds from ``start``; may be
            endless, and is read one pair ahead. An item whose offset is below its
            predecessor's goes right after that one.
        start: The time offset 0 stands for.
        max_batch: Items per batch at most (bounds memory and each burst).
        min_spacing: Least seconds between two batches' releases, for items whose
            offset is above 0 (what is due at the start goes at once): a server's
            per-client message rate limit then holds, what falls due meanwhile
            waits for the next batch.
        key: When given, a batch holds only consecutive items with equal keys.
        backlog: What to do when more than ``max_batch`` items are overdue.

    Raises:
        ValueError: ``max_batch`` below 1 or ``min_spacing`` negative.
    """

    def __init__(
        self,
        items: Iterable[tuple[float, T]],
        start: float,
        *,
        max_batch: int = 1,
        min_spacing: float = 0.0,
        key: Callable[[T], Hashable] | None = None,
        backlog: Backlog = Backlog.CATCH_UP,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if min_spacing < 0:
            raise ValueError("min_spacing must be >= 0")
        self._items: Iterator[tuple[float, T]] = iter(items)
        self._next: tuple[float, T] | None = next(self._items, None)
        self._origin = start
        self._max_batch = max_batch
        self._min_spacing = min_spacing
        self._key = key
        self._backlog = backlog
        self._released: float | None = None

    @property
    def origin(self) -> float:
        """The time offset 0 now stands for (later than ``start`` after a shift)."""
        return self._origin

    def due_at(self) -> float | None:
        """When the next batch may be released; ``None`` once every item was."""
        if self._next is None:
            return None
        offset = self._next[0]
        at = self._origin + offset
        if offset > 0 and self._released is not None:
            at = max(at, self._released + self._min_spacing)
        return at

    def release(self, now: float) -> list[T]:
        """Take the batch due at ``now``, oldest first (empty when nothing is due yet)."""
        at = self.due_at()
        if at is None or now < at:
            return []
        batch: list[T] = []
        key = self._key
        first: Hashable = None
        offset = 0.0
        while self._next is not None and len(batch) < self._max_batch:
            offset, item = self._next
            if self._origin + offset > now:
                break
            if key is not None:
                if not batch:
                    first = key(item)
                elif key(item) != first:
                    break
            batch.append(item)
            self._next = next(self._items, None)
        self._released = now
        following = self._next
        if (
            self._backlog is Backlog.SHIFT
            and following is not None
            and self._origin + following[0] <= now
        ):
            # Overdue past this batch: the next item comes as long after now as it
            # came after the last one released.
            self._origin = now - offset
        return batch


class Pacer(Generic[T]):
    """Yields a :class:`Schedule`'s batches as they fall due: ``async for batch in pacer``.

    The schedule starts when iteration does. Before each batch the pacer sleeps
    until it is due, and at least yields to the loop once, so an unpaced run
    (every offset 0) still lets other tasks run between batches. A plain async
    iterator, not a generator: a consumer cancelled mid-batch leaves nothing to
    finalise.

    Args:
        items: ``(offset, item)`` pairs, as :class:`Schedule` takes them.
        clock: Where time is read and waited for; the running loop's by default.
        max_batch: As :class:`Schedule`.
        min_spacing: As :class:`Schedule`.
        key: As :class:`Schedule`.
        backlog: As :class:`Schedule`.

    Raises:
        ValueError: As :class:`Schedule`.
    """

    def __init__(
        self,
        items: Iterable[tuple[float, T]],
        *,
        clock: Clock | None = None,
        max_batch: int = 1,
        min_spacing: float = 0.0,
        key: Callable[[T], Hashable] | None = None,
        backlog: Backlog = Backlog.CATCH_UP,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if min_spacing < 0:
            raise ValueError("min_spacing must be >= 0")
        self._clock: Clock = clock or LoopClock()
        self._items = items
        self._options = (max_batch, min_spacing, key, backlog)
        self._schedule: Schedule[T] | None = None

    def __aiter__(self) -> Pacer[T]:
        return self

    async def __anext__(self) -> list[T]:
        clock = self._clock
        if self._schedule is None:
            max_batch, min_spacing, key, backlog = self._options
            self._schedule = Schedule(
                self._items,
                clock.time(),
                max_batch=max_batch,
                min_spacing=min_spacing,
                key=key,
                backlog=backlog,
            )
        schedule = self._schedule
        while (at := schedule.due_at()) is not None:
            await clock.sleep(max(0.0, at - clock.time()))
            batch = schedule.release(clock.time())
            if batch:
                return batch
        raise StopAsyncIteration
