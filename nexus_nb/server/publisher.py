"""The publish path: append to the event log, then deliver to local subscribers.

With a :class:`~nexus_nb.server.eventlog.SharedEventLog` the first step is
``submit`` (``seq`` is assigned asynchronously) and the second happens when the
log calls ``Server.deliver`` with the entry read back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Final

from nexus_nb import protocol
from nexus_nb.exceptions import ProtocolError, TransportError
from nexus_nb.protocol import Publish
from nexus_nb.server.eventlog import EventLog, SharedEventLog
from nexus_nb.server.fanout import Fanout
from nexus_nb.server.frame import text_frame
from nexus_nb.server.metrics import Counters
from nexus_nb.server.peer import Peer

__all__ = ["Publisher"]

logger: Final = logging.getLogger("nexus_nb.server")


class Publisher:
    """Stores events in the log and hands them to the fan-out.

    Args:
        log: The server's event log, local or shared.
        fanout: Local delivery.
        counters: Where failed shared publishes are counted.
        channels: The channels the server serves.
        spawn: Runs a coroutine as a task the server owns (shared-log acks).
        serving: Whether the server still accepts events.
    """

    def __init__(
        self,
        log: EventLog | SharedEventLog,
        fanout: Fanout,
        counters: Counters,
        *,
        channels: frozenset[str],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        serving: Callable[[], bool],
    ) -> None:
        # Decided once: isinstance() on a runtime-checkable Protocol costs microseconds.
        self._shared: SharedEventLog | None = None
        self._local: EventLog | None = None
        if isinstance(log, SharedEventLog):
            self._shared = log
        else:
            self._local = log
        self._fanout = fanout
        self._counters = counters
        self._channels = channels
        self._spawn = spawn
        self._serving = serving

    def publish(
        self, channel: str, data: Mapping[str, Any], *, timestamp: str | None = None
    ) -> int:
        """Store one event and queue it for every matching subscriber.

        Queued frames leave when the loop next runs (one write per client per
        loop iteration), so a caller publishing many events should yield to the
        loop now and then: a client's queue past ``max_queue_bytes`` skips events.

        Args:
            channel: One of the server's channels.
            data: The event payload (a JSON object).
            timestamp: The envelope timestamp (ISO 8601); now when ``None``.

        Returns:
            The event's ``seq`` on its channel; 0 with a shared log, which assigns
            it later (await :meth:`submit` to learn it; failures are logged and
            counted in ``publishFailures``).

        Raises:
            ProtocolError: ``INVALID_CHANNEL`` for a channel the server does not serve.
            TransportError: The server is closing or closed, or a shared log's
                write queue is full.
            TypeError: ``data`` is not JSON-serialisable.
        """
        self._check(channel)
        if self._shared is not None:
            future = self._shared.submit(channel, [data], timestamp or protocol.isotime())
            future.add_done_callback(self._submitted)
            return 0
        assert self._local is not None
        entry = self._local.append(channel, data, timestamp or protocol.isotime())
        self._fanout.deliver(entry)
        return entry.seq

    async def submit(
        self,
        channel: str,
        events: Sequence[Mapping[str, Any]],
        *,
        timestamp: str | None = None,
    ) -> int:
        """Store events and wait for their ``seq``: :meth:`publish` for a shared log too.

        Returns:
            The last event's ``seq`` (0 when ``events`` is empty).

        Raises:
            ProtocolError: ``INVALID_CHANNEL`` for a channel the server does not serve.
            TransportError: The server is closed, or the shared log refused or lost
                the events (their outcome is then unknown).
        """
        self._check(channel)
        if not events:
            return 0
        if self._shared is None:
            seq = 0
            for data in events:
                seq = self.publish(channel, data, timestamp=timestamp)
            return seq
        return await self._shared.submit(channel, events, timestamp or protocol.isotime())

    def _check(self, channel: str) -> None:
        if channel not in self._channels:
            raise ProtocolError(protocol.ErrorCode.INVALID_CHANNEL, f"Invalid channels: {channel}")
        if not self._serving():
            raise TransportError("the server is closed")

    def _submitted(self, future: asyncio.Future[int]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._counters.publish_failures += 1
            logger.warning("publish to the shared log failed: %s", future.exception())

    def answer(self, peer: Peer, request: Publish) -> None:
        """Store an allowed ``publish`` request; acknowledge it now or once stored."""
        if self._shared is None:
            seq = 0
            for data in request.events:
                seq = self.publish(request.channel, data, timestamp=request.timestamp)
            ack = protocol.publish_ack(request.channel, len(request.events), seq, request.id)
            peer.send(text_frame(ack))
        else:
            self._spawn(self._answer_shared_publish(peer, request))

    async def _answer_shared_publish(self, peer: Peer, request: Publish) -> None:
        try:
            seq = await self.submit(request.channel, request.events, timestamp=request.timestamp)
        except TransportError as exc:
            self._counters.publish_failures += 1
            message = protocol.error(protocol.ErrorCode.UNAVAILABLE, str(exc), request.id)
        else:
            message = protocol.publish_ack(request.channel, len(request.events), seq, request.id)
        peer.send(text_frame(message))
