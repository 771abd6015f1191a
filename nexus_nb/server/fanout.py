"""The subscription index and the fan-out hot path.

Subscriptions are indexed by channel, then grouped by filter identity, so each
distinct filter runs once per event however many clients share it. Each event's
frame is built once (``text_frame``) and appended to every matching peer's
outbox; a peer in several matching groups gets it once (the per-event ``stamp``).
All dirty outboxes are flushed together once per loop iteration, one
``transport.write`` per peer, which is what makes fan-out cheaper than one
``send`` system call per frame per client (``benchmarks/bench_fanout.py`` measures both).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from websockets.protocol import State

from nexus_nb.server.frame import text_frame
from nexus_nb.server.peer import Batcher, Flow, Peer

if TYPE_CHECKING:
    from nexus_nb.protocol import Batch, Filter
    from nexus_nb.server.eventlog import Entry, Missed
    from nexus_nb.server.metrics import Counters

__all__ = ["Fanout", "Group"]

_OPEN = Flow.OPEN


class Group:
    """The peers subscribed to one channel with one filter (an ordered set)."""

    __slots__ = ("filter", "members", "terms")

    def __init__(self, filter_: Filter) -> None:
        self.filter = filter_
        self.terms = bool(filter_.terms)
        self.members: dict[Peer, None] = {}


class Fanout:
    """Routes logged events to local peers, within each peer's byte bound.

    Args:
        counters: Where deliveries, drops, gaps and slow disconnects are counted.
        max_queue_bytes: Per-peer bound on outbox plus transport write buffer, in
            bytes; past it events are skipped (counted in ``dropped``).
        slow_timeout: Seconds a peer may stay over the bound before ``on_slow``
            is called for it (the server closes it with 1013).
        on_slow: Called once for each peer that overflowed too long.
        sweep_interval: Seconds between checks of overflowing peers.
    """

    def __init__(
        self,
        counters: Counters,
        *,
        max_queue_bytes: int,
        slow_timeout: float,
        on_slow: Callable[[Peer], None],
        sweep_interval: float = 0.05,
    ) -> None:
        self._counters = counters
        self._max_queue_bytes = max_queue_bytes
        # Recovery waits until a quarter of the bound so that a peer hovering at
        # the bound does not flap between gap messages.
        self._low_water = max_queue_bytes // 4
        self._slow_timeout = slow_timeout
        self._on_slow = on_slow
        self._sweep_interval = sweep_interval
        self._groups: dict[str, dict[object, Group]] = {}
        self._dirty: list[Peer] = []
        self._overflowing: dict[Peer, None] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._sweep_handle: asyncio.TimerHandle | None = None
        self._stamp = 0
        self.peers: dict[Peer, None] = {}

    @property
    def max_queue_bytes(self) -> int:
        """The per-peer byte bound."""
        return self._max_queue_bytes

    def add(self, peer: Peer) -> None:
        """Register a connected peer (it has no subscriptions yet)."""
        self.peers[peer] = None

    def remove(self, peer: Peer) -> None:
        """Forget a peer: its subscriptions, batches and pending frames."""
        self._counters.dropped_unreported += sum(record[0] for record in peer.missed.values())
        peer.missed.clear()
        for channel in list(peer.subs):
            self.unsubscribe(peer, channel, flush=False)
        peer.close_batches()
        self.peers.pop(peer, None)
        self._overflowing.pop(peer, None)
        peer.outbox = []
        peer.outbox_bytes = 0

    def subscribe(self, peer: Peer, channel: str, filter_: Filter, batch: Batch | None) -> None:
        """Add one (channel, filter) subscription; the latest subscribe sets batch mode."""
        identity = filter_.identity
        peer.subs.setdefault(channel, {})[identity] = filter_
        groups = self._groups.setdefault(channel, {})
        group = groups.get(identity)
        if group is None:
            group = groups[identity] = Group(filter_)
        group.members[peer] = None
        old = peer.batchers.pop(channel, None)
        if old is not None:
            old.flush()
        if batch is not None:
            peer.batchers[channel] = Batcher(peer, channel, batch)

    def unsubscribe(self, peer: Peer, channel: str, *, flush: bool = True) -> None:
        """Remove all of ``peer``'s subscriptions on ``channel`` (its pending batch is sent)."""
        peer.floors.pop(channel, None)
        batcher = peer.batchers.pop(channel, None)
        if batcher is not None:
            if flush:
                batcher.flush()
            batcher.cancel()
        groups = self._groups.get(channel, {})
        for identity in peer.subs.pop(channel, {}):
            group = groups.get(identity)
            if group is not None:
                group.members.pop(peer, None)
                if not group.members:
                    del groups[identity]

    def replay(self, peer: Peer, filter_: Filter, entries: Iterable[Entry]) -> int:
        """Queue retained ``entries`` that match ``filter_`` for one peer; return how many."""
        count = 0
        for entry in entries:
            if filter_.matches(entry.data) and peer.push(entry, text_frame(entry.payload)):
                count += 1
        return count

    def deliver(self, entry: Entry) -> int:
        """Queue one logged event for every local peer whose filters match it.

        Returns:
            How many peers it was queued for (skipped peers not counted).
        """
        channel = entry.channel
        counters = self._counters
        counters.published[channel] = counters.published.get(channel, 0) + 1
        groups = self._groups.get(channel)
        if not groups:
            return 0
        self._stamp = stamp = self._stamp + 1
        payload = entry.payload
        frame = text_frame(payload)
        size = len(frame)
        data = entry.data
        dirty = self._dirty
        delivered = 0
        for group in groups.values():
            if group.terms and not group.filter.matches(data):
                continue
            for peer in group.members:
                if peer.stamp == stamp:
                    continue
                peer.stamp = stamp
                # The common case inline; batches, overflow and budget in Peer.push.
                if (
                    peer.flow is not _OPEN
                    or peer.batchers
                    or peer.floors
                    or peer.outbox_bytes + size > peer.budget
                ):
                    delivered += peer.push(entry, frame)
                    continue
                peer.outbox.append(frame)
                peer.outbox_bytes += size
                delivered += 1
                if not peer.scheduled:
                    peer.scheduled = True
                    dirty.append(peer)
        counters.delivered[channel] = counters.delivered.get(channel, 0) + delivered
        if dirty and self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)
        return delivered

    def announce_gap(self, channel: str, missed: Missed, reason: str) -> int:
        """Tell every local subscriber of ``channel`` that ``missed`` will never come.

        A peer already overflowing counts the events among those its own ``gap``
        will report; a peer that resumed past them (its floor) is not told. A
        pending batch goes out first, so the gap follows the events before it.

        Returns:
            How many peers were told.
        """
        peers = {
            peer: None for group in self._groups.get(channel, {}).values() for peer in group.members
        }
        told = 0
        for peer in peers:
            if missed.to_seq <= peer.floors.get(channel, 0):
                continue
            if peer.flow is not Flow.OPEN:
                peer.owe_gap(channel, missed.count, missed.from_seq, missed.to_seq)
                continue
            batcher = peer.batchers.get(channel)
            if batcher is not None:
                batcher.flush()
            peer.send_gap(channel, missed.count, missed.from_seq, missed.to_seq, reason)
            told += 1
        self._counters.gaps_sent += told
        return told

    def mark_dirty(self, peer: Peer) -> None:
        """Schedule ``peer``'s outbox for the next flush (the Peer ``on_dirty`` hook)."""
        peer.scheduled = True
        self._dirty.append(peer)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write every dirty outbox to its transport, one write per peer."""
        self._flush_handle = None
        dirty, self._dirty = self._dirty, []
        sent = 0
        max_queue_bytes = self._max_queue_bytes
        for peer in dirty:
            peer.scheduled = False
            out = peer.outbox
            if not out:
                continue
            peer.outbox = []
            peer.outbox_bytes = 0
            ws = peer.ws
            # Once websockets has sent or received a close frame, nothing may follow it.
            if ws.protocol.state is not State.OPEN:
                continue
            transport = ws.transport
            transport.write(out[0] if len(out) == 1 else b"".join(out))
            sent += len(out)
            peer.budget = max_queue_bytes - transport.get_write_buffer_size()
            if peer.budget < 0:
                peer.overflow()
        self._counters.messages_sent += sent

    def watch(self, peer: Peer) -> None:
        """Track an overflowing peer until it drains or times out (Peer ``on_overflow`` hook)."""
        self._overflowing[peer] = None
        if self._sweep_handle is None:
            self._sweep_handle = asyncio.get_running_loop().call_later(
                self._sweep_interval, self._sweep
            )

    def _sweep(self) -> None:
        self._sweep_handle = None
        now = time.monotonic()
        for peer in list(self._overflowing):
            ws = peer.ws
            if ws.protocol.state is not State.OPEN:
                del self._overflowing[peer]
                continue
            buffered = ws.transport.get_write_buffer_size() + peer.outbox_bytes
            if buffered <= self._low_water:
                del self._overflowing[peer]
                peer.budget = self._max_queue_bytes - buffered
                self._counters.gaps_sent += peer.recover()
            elif now - peer.overflow_since > self._slow_timeout:
                del self._overflowing[peer]
                self._counters.slow_disconnects += 1
                self._on_slow(peer)
        if self._overflowing:
            self._sweep_handle = asyncio.get_running_loop().call_later(
                self._sweep_interval, self._sweep
            )

    def flush_batches(self) -> None:
        """Send every pending batch now (before a graceful shutdown)."""
        for peer in list(self.peers):
            for batcher in list(peer.batchers.values()):
                batcher.flush()

    def close(self) -> None:
        """Flush what is queued and cancel the flush and sweep timers."""
        self.flush_batches()
        self.flush()
        for handle in (self._flush_handle, self._sweep_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._sweep_handle = None
        for peer in self.peers:
            peer.close_batches()
