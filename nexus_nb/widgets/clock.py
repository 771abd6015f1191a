"""One frame clock per event loop: paces every live view and caps widget messages."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from nexus_nb.widgets.meter import Rate

__all__ = ["ClockState", "FrameClock", "View"]


class View(Protocol):
    """What the clock needs from a live widget."""

    @property
    def fps(self) -> float | None:
        """The view's own frame-rate cap, or ``None`` for the clock's."""
        ...

    @property
    def messages_sent(self) -> int:
        """Widget messages the view's widgets have sent so far."""
        ...

    def pending(self) -> bool:
        """Whether a frame would show something new (displayed, not paused, data changed)."""
        ...

    def render(self) -> None:
        """Draw one frame now."""
        ...

    def show_error(self, error: BaseException | None) -> None:
        """Show the error of the last frame on the widget (``None`` clears it)."""
        ...


class ClockState(enum.Enum):
    """Whether the clock's task is running."""

    IDLE = "idle"
    RUNNING = "running"
    CLOSED = "closed"


@dataclass
class _Entry:
    ref: weakref.ref[View]
    tokens: float
    last: float = -float("inf")
    seen: int = 0
    error: BaseException | None = None


# One clock per loop, so re-running a cell reuses it instead of starting another.
# Weak keys: a closed loop (each test has its own) takes its clock with it.
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FrameClock] = (
    weakref.WeakKeyDictionary()
)


class FrameClock:
    """Paces live views: at most ``fps`` frames a second, at most ``budget`` messages.

    One asyncio task on the running loop ticks the clock; each tick renders the
    registered views that are due, displayed and have new data. The task starts
    when the first view registers (if a loop is running) and ends when the last
    view is gone. Views are held weakly and drop out when garbage or closed.

    Message budget: every message any view's widgets send (rendering, plotly's
    own bookkeeping, replies to browser echoes) spends a token; tokens refill at
    ``budget`` a second up to a burst of ``budget / fps``. A due view is skipped
    while tokens are spent (counted in :attr:`skipped`) and catches up, coalesced,
    on a later tick. So over any ``t`` seconds at most ``budget * t`` plus one
    burst plus one frame's messages are sent. Each view also has its own bucket
    of ``view_budget`` a second, so a view whose frames cost more messages (in a
    browser plotly answers each update with its own messages, which the kernel
    echoes and resets) gets fewer frames instead of crowding out the others.

    A view whose frame raised keeps the error shown on the widget (and in
    :attr:`errors`) until a later frame succeeds.

    Args:
        fps: Ticks per second, at most; must be positive.
        budget: Widget messages per second across all views, at most; must be
            positive. Far below the Jupyter server's IOPub limit of ~1000/s.
        view_budget: Widget messages per second per view, at most; positive.
        timer: Monotonic seconds; replace it in tests.

    Raises:
        ValueError: If ``fps`` or ``budget`` is not positive.
    """

    def __init__(
        self,
        *,
        fps: float = 10.0,
        budget: float = 200.0,
        view_budget: float = 45.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if not fps > 0 or not budget > 0 or not view_budget > 0:
            raise ValueError("fps, budget and view_budget must be positive")
        self.fps = fps
        self.budget = budget
        self.view_budget = view_budget
        self.skipped = 0
        self.errors = 0
        self.error: BaseException | None = None
        self._timer = timer
        self._entries: list[_Entry] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._burst = max(budget / fps, 1.0)
        self._view_burst = max(view_budget / fps, 1.0)
        self._tokens = self._burst
        self._refilled: float | None = None
        self._turn = 0
        self._frames = Rate()
        self._messages = Rate()

    @classmethod
    def shared(cls) -> FrameClock:
        """Return the clock of the running loop, creating it on first use.

        Raises:
            RuntimeError: If no event loop is running.
        """
        loop = asyncio.get_running_loop()
        clock = _SHARED.get(loop)
        if clock is None or clock.state is ClockState.CLOSED:
            clock = cls()
            _SHARED[loop] = clock
        return clock

    @property
    def state(self) -> ClockState:
        """Whether the clock is closed, ticking, or idle."""
        if self._closed:
            return ClockState.CLOSED
        if self._task is not None and not self._task.done():
            return ClockState.RUNNING
        return ClockState.IDLE

    @property
    def views(self) -> int:
        """Number of live registered views."""
        return sum(entry.ref() is not None for entry in self._entries)

    def frame_rate(self) -> float:
        """Return frames rendered per second over the last second."""
        return self._frames.rate(self._timer())

    def message_rate(self) -> float:
        """Return widget messages sent per second over the last second."""
        return self._messages.rate(self._timer())

    def __repr__(self) -> str:
        return f"<FrameClock {self.state.value} views={self.views} fps={self.fps:g}>"

    def register(self, view: View) -> None:
        """Add a view (held weakly) and start ticking if a loop is running.

        Raises:
            RuntimeError: If the clock is closed.
        """
        if self._closed:
            raise RuntimeError("the frame clock is closed")
        if not any(entry.ref() is view for entry in self._entries):
            entry = _Entry(weakref.ref(view), tokens=self._view_burst, seen=view.messages_sent)
            self._entries.append(entry)
        self.start()

    def unregister(self, view: View) -> None:
        """Remove a view; the task ends on its own when no view is left."""
        self._entries = [e for e in self._entries if e.ref() not in (None, view)]

    def start(self) -> None:
        """Start the ticking task on the running loop, if any and not yet started."""
        if self._closed or self.state is ClockState.RUNNING:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # No loop (plain Python, tests): views render on demand.
        self._task = loop.create_task(self._run(), name="nexus_nb.FrameClock")
        self._task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.error = task.exception()

    async def _run(self) -> None:
        interval = 1.0 / self.fps
        deadline = self._timer()
        while self._entries:
            self.tick()
            deadline += interval
            delay = deadline - self._timer()
            if delay < 0:  # Fell behind: drop the missed ticks instead of bursting.
                deadline, delay = self._timer(), 0.0
            await asyncio.sleep(delay)

    def tick(self, now: float | None = None) -> int:
        """Render every due view within the message budget; return how many rendered.

        Called by the clock's task; call it directly to drive the clock by hand.
        """
        now = self._timer() if now is None else now
        elapsed = 0.0 if self._refilled is None else now - self._refilled
        self._refilled = now
        self._tokens = min(self._burst, self._tokens + elapsed * self.budget)
        live = [(e, v) for e in self._entries if (v := e.ref()) is not None]
        self._entries = [e for e, _ in live]
        for entry, _ in live:
            entry.tokens = min(self._view_burst, entry.tokens + elapsed * self.view_budget)
        self._spend(live, now)
        rendered = 0
        half_tick = 0.5 / self.fps
        count = len(live)
        # Start one further each tick so a tight budget is shared round-robin.
        self._turn = (self._turn + 1) % count if count else 0
        for entry, view in live[self._turn :] + live[: self._turn]:
            if now - entry.last < 1.0 / (view.fps or self.fps) - half_tick:
                continue
            if not view.pending():
                continue
            if self._tokens <= 0 or entry.tokens <= 0:
                self.skipped += 1
                continue
            entry.last = now
            rendered += 1
            self._render(entry, view)
            self._spend([(entry, view)], now)
        self._frames.add(1 if rendered else 0, now)
        return rendered

    def _spend(self, live: list[tuple[_Entry, View]], now: float) -> None:
        sent = 0
        for entry, view in live:
            delta = view.messages_sent - entry.seen
            entry.seen = view.messages_sent
            entry.tokens -= delta
            sent += delta
        self._tokens -= sent
        self._messages.add(sent, now)

    def _render(self, entry: _Entry, view: View) -> None:
        try:
            view.render()
        except Exception as exc:
            # Keep the failure on screen; the next successful frame clears it.
            self.errors += 1
            entry.error = exc
            view.show_error(exc)
        else:
            if entry.error is not None:
                entry.error = None
                view.show_error(None)

    def close(self) -> None:
        """Stop ticking for good (cancels the task; use :meth:`aclose` to await it)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()

    async def aclose(self) -> None:
        """Stop ticking for good and wait for the task to finish."""
        self.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
