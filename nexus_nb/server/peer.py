"""One connected client's outbound side: outbox, byte budget, overflow and batches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

from nexus_nb import protocol
from nexus_nb.server.frame import text_frame

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from nexus_nb.protocol import Filter
    from nexus_nb.server.auth import Principal
    from nexus_nb.server.eventlog import Entry
    from nexus_nb.server.metrics import Counters

__all__ = ["Batcher", "Flow", "Peer", "TokenBucket"]


class Flow(Enum):
    """Whether a peer's events are being queued or skipped."""

    OPEN = "open"  #: events are queued
    OVERFLOW = "overflow"  #: over the byte bound: events are skipped and counted


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, holding at most ``burst``."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._last = time.monotonic()

    def take(self) -> bool:
        """Take one token; ``False`` when the bucket is empty."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Batcher:
    """Collects one peer's events on one channel into ``event_batch`` frames.

    Flushes after ``maxlen`` events or ``interval`` seconds after the first
    queued one, whichever comes first. A row batch joins the events' encoded
    messages; a columnar one (``batch.columns``) transposes their data once, at
    flush. Owned by its :class:`Peer`, which cancels its timer through
    :meth:`flush` or :meth:`cancel`.
    """

    __slots__ = ("_entries", "_peer", "_timer", "channel", "columns", "interval", "maxlen")

    def __init__(self, peer: Peer, channel: str, batch: protocol.Batch) -> None:
        self._peer = peer
        self.channel = channel
        self.maxlen = batch.maxlen
        self.interval = batch.interval
        self.columns = batch.columns
        self._entries: list[Entry] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, entry: Entry) -> None:
        """Queue one logged event."""
        if not self._entries:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self.flush)
        self._entries.append(entry)
        if len(self._entries) >= self.maxlen:
            self.flush()

    def flush(self) -> None:
        """Send what is queued as one ``event_batch`` frame (subject to the byte budget)."""
        self.cancel()
        if self._entries:
            entries, self._entries = self._entries, []
            _, seqs, stamps, datas, payloads = zip(*entries, strict=True)
            if self.columns:
                message = protocol.event_columns(self.channel, seqs, stamps, datas)
            else:
                message = protocol.event_batch(self.channel, payloads)
            self._peer.push_batch(
                self.channel, text_frame(message), len(entries), seqs[0], seqs[-1]
            )

    def cancel(self) -> None:
        """Stop the interval timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Peer:
    """The server's view of one authenticated connection.

    Everything sent to the client goes through :attr:`outbox` as ready frames, in
    order; the server flushes all dirty outboxes once per loop iteration, one
    ``transport.write`` per peer. Events beyond the byte budget (outbox plus the
    transport's write buffer over ``max_queue_bytes``) are skipped and counted
    per channel until the server sees the buffer drain, then reported in a
    ``gap`` message. Control replies (pong, errors, confirmations) are never
    skipped: they are small and bounded by the message rate limit.
    """

    __slots__ = (
        "batchers",
        "bucket",
        "budget",
        "client_id",
        "counters",
        "floors",
        "flow",
        "missed",
        "on_dirty",
        "on_overflow",
        "outbox",
        "outbox_bytes",
        "overflow_since",
        "principal",
        "scheduled",
        "stamp",
        "strikes",
        "subs",
        "ws",
    )

    def __init__(
        self,
        ws: ServerConnection,
        principal: Principal,
        client_id: str,
        *,
        max_queue_bytes: int,
        bucket: TokenBucket,
        counters: Counters,
        on_dirty: Callable[[Peer], None],
        on_overflow: Callable[[Peer], None],
    ) -> None:
        self.ws = ws
        self.principal = principal
        self.client_id = client_id
        self.bucket = bucket
        self.counters = counters
        self.on_dirty = on_dirty
        self.on_overflow = on_overflow
        self.outbox: list[bytes] = []
        self.outbox_bytes = 0
        self.budget = max_queue_bytes
        self.scheduled = False
        self.stamp = -1
        self.flow = Flow.OPEN
        self.overflow_since = 0.0
        self.strikes = 0
        #: channel -> [count, from_seq, to_seq] of events skipped while overflowing.
        self.missed: dict[str, list[int]] = {}
        self.batchers: dict[str, Batcher] = {}
        #: channel -> seq this client already has from another instance of a shared
        #: log; live events up to it are not sent again (set by ``resume``).
        self.floors: dict[str, int] = {}
        #: channel -> filter identity -> filter: this peer's subscriptions.
        self.subs: dict[str, dict[object, Filter]] = {}

    def __repr__(self) -> str:
        return f"<Peer {self.client_id} {self.flow.name}>"

    @property
    def subscription_count(self) -> int:
        """Distinct (channel, filter) subscriptions, as the reference's Set counts them."""
        return sum(len(f) for f in self.subs.values())

    def send(self, frame: bytes) -> None:
        """Queue a control frame; never skipped."""
        self.outbox.append(frame)
        self.outbox_bytes += len(frame)
        if not self.scheduled:
            self.on_dirty(self)

    def skip(self, channel: str, count: int, first: int, last: int) -> None:
        """Count ``count`` events (``first``..``last``) skipped for this peer's byte bound."""
        self.counters.dropped += count
        self.owe_gap(channel, count, first, last)

    def owe_gap(self, channel: str, count: int, first: int, last: int) -> None:
        """Add ``count`` lost events (``first``..``last``) to the ``gap`` sent on recovery."""
        record = self.missed.get(channel)
        if record is None:
            self.missed[channel] = [count, first, last]
        else:
            record[0] += count
            record[2] = last

    def overflow(self) -> None:
        """Start skipping events until the buffer drains."""
        if self.flow is Flow.OPEN:
            self.flow = Flow.OVERFLOW
            self.overflow_since = time.monotonic()
            self.on_overflow(self)

    def push(self, entry: Entry, frame: bytes) -> bool:
        """Queue one event, framed (or add it to the channel's batch); ``False`` if skipped."""
        channel, seq = entry.channel, entry.seq
        if self.floors:
            floor = self.floors.get(channel, 0)
            if seq <= floor:
                return False
            if floor:
                del self.floors[channel]
        if self.flow is not Flow.OPEN:
            self.skip(channel, 1, seq, seq)
            return False
        batcher = self.batchers.get(channel) if self.batchers else None
        if batcher is not None:
            batcher.add(entry)
            return True
        if self.outbox_bytes + len(frame) > self.budget:
            self.overflow()
            self.skip(channel, 1, seq, seq)
            return False
        self.send(frame)
        return True

    def push_batch(self, channel: str, frame: bytes, count: int, first: int, last: int) -> None:
        """Queue one ``event_batch`` frame of ``count`` events, or skip it when over budget."""
        if self.flow is not Flow.OPEN or self.outbox_bytes + len(frame) > self.budget:
            self.overflow()
            self.skip(channel, count, first, last)
        else:
            self.send(frame)

    def recover(self) -> int:
        """Leave overflow: queue one ``gap`` per channel with skipped events; return them."""
        self.flow = Flow.OPEN
        missed, self.missed = self.missed, {}
        for channel, (count, first, last) in missed.items():
            self.send_gap(channel, count, first, last, "overflow")
        return len(missed)

    def send_gap(self, channel: str, count: int, first: int, last: int, reason: str) -> None:
        """Queue a ``gap`` message: events ``first``..``last`` (``count``) will never come."""
        message = protocol.gap(channel, missed=count, from_seq=first, to_seq=last, reason=reason)
        self.send(text_frame(message))

    def close_batches(self) -> None:
        """Cancel every batch timer without sending."""
        for batcher in self.batchers.values():
            batcher.cancel()
        self.batchers.clear()
