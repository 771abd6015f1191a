"""What a stream's reader thread does with each frame: store it in the buffers at once.

The thread model (``docs/threads.md``): a stream's client reads its socket on a
thread of its own, and that thread is the one writer of the stream's buffers.
It stores each frame as it is decoded, so the buffers fill while a cell blocks
the kernel, and a read on any thread (a cell, a view's frame thread, an export)
takes the buffer's lock and sees whole frames in wire order. There is no queue
between the reader and the buffers, and so nothing between them to overflow:
each buffer's own ``maxlen`` and ``window`` are the bound.

The state the user's threads change and the reader uses (which channels have a
buffer, the recordings, the waiters) is swapped under :attr:`Feed.lock`: a
recording closed from a cell is never written again once ``close`` returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nexus_nb.buffer import RingBuffer
from nexus_nb.client import Events

__all__ = ["Feed", "StreamStats", "Waiter"]

log = logging.getLogger("nexus_nb.session")

Recorder = Callable[[str, Events], None]


@dataclass
class StreamStats:
    """What the reader thread stored, counted as it stored it."""

    frames: int = 0
    events: int = 0
    gaps: int = 0
    """Gap markers written (server overflow, reconnects)."""
    record_errors: int = 0
    """Writes of a :meth:`Stream.record` recording that raised (logged; the buffers go on)."""


@dataclass
class Waiter:
    """A wait for ``rows`` rows in ``channel``'s buffer; ``wake`` is called once, on the reader."""

    channel: str
    rows: int
    wake: Callable[[], object]


class Feed:
    """The buffers of one stream and what the reader thread does with each frame.

    Args:
        maxlen: Rows kept per channel buffer.
        window: Event-time window per buffer (``"10min"``, seconds or ``None``).
    """

    def __init__(self, *, maxlen: int, window: str | float | None) -> None:
        self.maxlen = maxlen
        self.window = window
        self.stats = StreamStats()
        self.lock = threading.Lock()
        # Copy on write, under lock: the reader looks channels up without taking it.
        self._buffers: dict[str, RingBuffer] = {}
        self._recorders: tuple[Recorder, ...] = ()
        self._waiters: tuple[Waiter, ...] = ()
        self._missed: dict[str, int] = {}

    @property
    def buffers(self) -> Mapping[str, RingBuffer]:
        """Channel -> buffer, in the order they were made (a snapshot)."""
        return self._buffers

    def missed(self, channel: str) -> int:
        """Events the server reported lost for ``channel`` (its gap messages)."""
        return self._missed.get(channel, 0)

    def buffer(self, channel: str) -> RingBuffer:
        """The buffer of ``channel``, made empty if it does not exist yet (any thread)."""
        buffer = self._buffers.get(channel)
        if buffer is not None:
            return buffer
        with self.lock:
            buffer = self._buffers.get(channel)
            if buffer is None:
                buffer = RingBuffer(channel, maxlen=self.maxlen, window=self.window)
                self._buffers = {**self._buffers, channel: buffer}
        return buffer

    # -- on the reader thread --------------------------------------------------------------

    def deliver(self, channel: str, events: Events, size: int) -> None:
        """Store one frame (a reader sink: ``size`` is its bytes on the wire, unused)."""
        buffer = self._buffers.get(channel)
        if buffer is None:  # not `or`: a buffer's truth is its length, which stores staged rows
            buffer = self.buffer(channel)
        buffer.extend(events)
        stats = self.stats
        stats.frames += 1
        stats.events += len(events)
        if self._recorders:
            self._record(channel, events)
        for waiter in self._waiters:  # a snapshot: swapped, never changed, under the lock
            if waiter.channel == channel and buffer.reaches(waiter.rows):
                self._wake(waiter)

    def _record(self, channel: str, events: Events) -> None:
        with self.lock:
            for write in self._recorders:
                try:
                    write(channel, events)
                except Exception:
                    # Like a failing sink: counted and logged; the buffers go on.
                    self.stats.record_errors += 1
                    log.exception("nexus_nb stream: a recording of %s failed", channel)

    def _wake(self, waiter: Waiter) -> None:
        with self.lock:
            if waiter not in self._waiters:
                return  # removed meanwhile (timed out), or woken already
            self._waiters = tuple(w for w in self._waiters if w is not waiter)
        waiter.wake()

    def _ready(self, waiter: Waiter) -> bool:
        # Under self.lock; the waiter's buffer exists (made by wait_for), so no buffer() here.
        return self._buffers[waiter.channel].reaches(waiter.rows)

    def on_gap(self, message: Mapping[str, Any]) -> None:
        """Mark a server's ``gap`` message in its channel's buffer (a reader handler)."""
        if message.get("source") == "client":
            # Lost only to the client's loop listeners; the buffers had every frame.
            return
        channel = message.get("channel")
        if isinstance(channel, str) and channel in self._buffers:
            now = time.time_ns()
            missed = int(message.get("missed", 0))
            self.stats.gaps += 1
            self._missed[channel] = self._missed.get(channel, 0) + missed
            self._buffers[channel].mark_gap(
                now, now, missed=missed, reason=f"server: {message.get('reason')}"
            )

    def on_reconnected(self, message: Mapping[str, Any]) -> None:
        """Mark the time the connection was down in every buffer (a reader handler)."""
        start = int(float(message["down_since"]) * 1e9)
        end = int(float(message["up_at"]) * 1e9)
        if message.get("epoch_changed"):
            reason, missed = "reconnect: server restarted (events sent meanwhile are lost)", None
        elif message.get("resumed"):
            reason, missed = "reconnect: resumed, nothing lost", 0
        else:
            reason, missed = "reconnect: not resumed", None
        for buffer in self._buffers.values():
            buffer.mark_gap(start, end, missed=missed, reason=reason)
        self.stats.gaps += 1

    # -- from the user's threads -----------------------------------------------------------

    def add_recorder(self, write: Recorder) -> Callable[[], None]:
        """Write every frame stored from now on with ``write``; returns the remover.

        Once the remover returns, ``write`` is not called again (it takes the lock
        the reader writes under).
        """
        with self.lock:
            self._recorders = (*self._recorders, write)

        def remove() -> None:
            with self.lock:
                self._recorders = tuple(r for r in self._recorders if r is not write)

        return remove

    def add_waiter(self, waiter: Waiter) -> bool:
        """Wake ``waiter`` once its buffer holds its rows; ``False`` if it already does."""
        with self.lock:
            if self._ready(waiter):
                return False
            self._waiters = (*self._waiters, waiter)
            return True

    def remove_waiter(self, waiter: Waiter) -> None:
        """Forget ``waiter`` (timed out or cancelled)."""
        with self.lock:
            self._waiters = tuple(w for w in self._waiters if w is not waiter)
