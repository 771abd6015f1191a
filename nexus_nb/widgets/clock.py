"""One frame clock per event loop: paces every live view and caps widget messages."""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from nexus_nb.thread import LoopThread
from nexus_nb.widgets.meter import Rate

__all__ = ["ClockState", "FrameClock", "View"]

T = TypeVar("T")


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


# The one clock that ticks on a thread of its own (FrameClock.shared), made on first use.
_SHARED: FrameClock | None = None
_SHARED_LOCK = threading.Lock()

log = logging.getLogger("nexus_nb.widgets")


class FrameClock:
    """Paces live views: at most ``fps`` frames a second, at most ``budget`` messages.

    Each tick renders the registered views that are due, displayed and have new
    data. Views are held weakly and drop out when garbage or closed.

    **The owner of the views' widgets.** The shared clock (:meth:`shared`, what
    views use by default in a kernel) ticks on a thread of its own, ``nexus_nb
    frames``, so views keep drawing while a cell computes on the kernel's main
    thread. Every widget of a view is built, changed and read on that thread
    only: a view's public methods hand their work to it (:meth:`call`, which
    blocks the caller until done), and a message from the page, whatever thread
    the kernel delivers it on (the main shell, or a JupyterLab 4.4+ subshell),
    is handed to it before ipywidgets sees it (:meth:`post`). The thread starts
    with the first view and runs until :meth:`close` or the interpreter's exit.
    A clock made directly has no thread: drive it with :meth:`tick` (tests,
    scripts); its views are then owned by whoever calls them.

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
        thread: Tick on a thread of its own (started with the first view) instead
            of by hand.
        max_posts: Page messages waiting for the clock's thread, at most (see
            :meth:`post`).

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
        thread: bool = False,
        max_posts: int = 1000,
    ) -> None:
        if not fps > 0 or not budget > 0 or not view_budget > 0:
            raise ValueError("fps, budget and view_budget must be positive")
        if max_posts < 1:
            raise ValueError("max_posts must be at least 1")
        self.fps = fps
        self.budget = budget
        self.view_budget = view_budget
        self.skipped = 0
        self.frames = 0
        """View frames rendered so far."""
        self.errors = 0
        self.error: BaseException | None = None
        self._timer = timer
        self._entries: list[_Entry] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._threaded = thread
        self._thread: LoopThread | None = None
        self.routed: weakref.WeakSet[Any] = weakref.WeakSet()
        self._slots = threading.BoundedSemaphore(max_posts)
        self.post_waits = 0
        """Times a page message waited for a place among the ``max_posts`` queued."""
        """The comms whose page messages come to this clock (see :mod:`nexus_nb.widgets.owner`)."""
        self._burst = max(budget / fps, 1.0)
        self._view_burst = max(view_budget / fps, 1.0)
        self._tokens = self._burst
        self._refilled: float | None = None
        self._turn = 0
        self._frames = Rate()
        self._messages = Rate()

    @classmethod
    def shared(cls) -> FrameClock:
        """Return the process's clock that ticks on its own thread, creating it on first use.

        A closed one is replaced, so re-running a cell that makes views reuses
        the one thread instead of starting another.
        """
        global _SHARED
        with _SHARED_LOCK:
            if _SHARED is None or _SHARED.state is ClockState.CLOSED:
                _SHARED = cls(thread=True)
            return _SHARED

    def owns(self) -> bool:
        """Whether the calling thread may touch this clock's views now.

        True on the clock's thread, and anywhere for a clock without a running
        thread (driven by hand, or closed).
        """
        thread = self._thread
        return thread is None or thread.stopped or thread.is_current()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the clock's thread, block until it returns, return its result.

        The one way a caller on another thread (a cell) acts on a view. Runs
        ``fn`` at once where :meth:`owns` is true.
        """
        thread = self._thread
        if thread is None or thread.stopped or thread.is_current():
            return fn()
        try:
            return thread.call_sync(fn)
        except RuntimeError:
            if thread.stopped:  # closed while handing over: nobody else owns the views now
                return fn()
            raise

    def post(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the clock's thread soon, in order of posting; return once queued.

        The one way a message from the page reaches a view: from whatever thread
        the kernel delivered it on. On the clock's own thread ``fn`` runs after
        what is already queued (so a view can let a burst of page messages be read
        before acting once on the last); with no thread running it runs at once.
        At most ``max_posts`` wait for the clock's thread; past that the posting
        thread waits for a place (backpressure, counted in :attr:`post_waits`):
        a page message is never dropped, since each one carries widget state.
        """
        thread = self._thread
        if thread is None or thread.stopped:
            _run_logged(fn)
            return
        if thread.is_current():
            thread.loop.call_soon(_run_logged, fn)
            return
        if not self._slots.acquire(blocking=False):
            self.post_waits += 1
            while not self._slots.acquire(timeout=0.5):
                if thread.stopped:
                    _run_logged(fn)  # the views have no other owner now
                    return

        def run() -> None:
            try:
                _run_logged(fn)
            finally:
                self._slots.release()

        try:
            thread.loop.call_soon_threadsafe(run)
        except RuntimeError:
            run()  # the loop closed meanwhile: the views have no other owner

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
        """Start ticking on the clock's thread (a threaded clock; else nothing to start)."""
        if self._closed or not self._threaded or self.state is ClockState.RUNNING:
            return
        if self._thread is None or self._thread.stopped:
            self._thread = LoopThread("nexus_nb frames")
        thread = self._thread
        if thread.is_current():
            self._begin()
        else:
            thread.loop.call_soon_threadsafe(self._begin)

    def _begin(self) -> None:
        # On the clock's thread.
        if self._closed or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="nexus_nb.FrameClock")
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
        self.frames += rendered
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
        """Stop ticking for good and end the clock's thread (joined, unless called on it)."""
        self._closed = True
        thread = self._thread
        if thread is None:
            return
        if thread.is_current():
            thread.loop.stop()
        else:
            thread.shutdown()


def _run_logged(fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception:
        # A page message whose handling failed: ipywidgets would have logged it too.
        log.exception("nexus_nb: handling a message from the page failed")
