"""The publish path: submit to the event log, which delivers to local subscribers.

Every log answers ``submit`` with a future of the last ``seq``. The in-memory
log resolves it before returning, so a ``publish`` request is acknowledged in
the same loop step; a shared log resolves it once stored, and the
acknowledgement waits for that. :meth:`Publisher.publish` waits for nothing and
uses ``submit_nowait``, which makes no future: it returns the in-memory log's
``seq``, and 0 for a shared log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Final

from nexus_nb import protocol
from nexus_nb.exceptions import ProtocolError, TransportError
from nexus_nb.protocol import Publish
from nexus_nb.server.eventlog import EventLog
from nexus_nb.server.frame import text_frame
from nexus_nb.server.metrics import Counters
from nexus_nb.server.peer import Peer

__all__ = ["Publisher"]

logger: Final = logging.getLogger("nexus_nb.server")


class Publisher:
    """Checks and stores events in the log, which hands them to the fan-out.

    Args:
        log: The server's event log (started with the fan-out as its ``deliver``).
        counters: Where failed publishes are counted.
        channels: The channels the server serves.
        spawn: Runs a coroutine as a task the server owns (acks that wait).
        serving: Whether the server still accepts events.
    """

    def __init__(
        self,
        log: EventLog,
        counters: Counters,
        *,
        channels: frozenset[str],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        serving: Callable[[], bool],
    ) -> None:
        self._log = log
        self._on_error = self._failed  # bound once: publish is the hot path
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
            The event's ``seq`` on its channel when the log assigns it at once
            (the in-memory log); 0 when it assigns it later (a shared log: await
            :meth:`submit` to learn it; failures are logged and counted in
            ``publishFailures``).

        Raises:
            ProtocolError: ``INVALID_CHANNEL`` for a channel the server does not serve.
            TransportError: The server is closing or closed, or a shared log's
                write queue is full.
            TypeError: ``data`` is not JSON-serialisable.
        """
        self._check(channel)
        return self._log.submit_nowait(
            channel, (data,), timestamp or protocol.isotime(), self._on_error
        )

    async def submit(
        self,
        channel: str,
        events: Sequence[Mapping[str, Any]],
        *,
        timestamp: str | None = None,
    ) -> int:
        """Store events and wait for their ``seq``: :meth:`publish` for a shared log too.

        All the events get one envelope ``timestamp`` (now when ``None``).

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
        return await self._log.submit(channel, events, timestamp or protocol.isotime())

    def _check(self, channel: str) -> None:
        if channel not in self._channels:
            raise ProtocolError(protocol.ErrorCode.INVALID_CHANNEL, f"Invalid channels: {channel}")
        if not self._serving():
            raise TransportError("the server is closed")

    def _failed(self, exc: BaseException) -> None:
        self._counters.publish_failures += 1
        logger.warning("publish to the shared log failed: %s", exc)

    def answer(self, peer: Peer, request: Publish) -> None:
        """Store an allowed ``publish`` request; acknowledge it now if stored, else once stored."""
        try:
            self._check(request.channel)
            stored = self._log.submit(
                request.channel, request.events, request.timestamp or protocol.isotime()
            )
        except TransportError as exc:
            self._refuse(peer, request, exc)
            return
        if stored.done():
            self._acknowledge(peer, request, stored.result())
        else:
            self._spawn(self._acknowledge_when_stored(peer, request, stored))

    async def _acknowledge_when_stored(
        self, peer: Peer, request: Publish, stored: asyncio.Future[int]
    ) -> None:
        try:
            seq = await stored
        except TransportError as exc:
            self._refuse(peer, request, exc)
        else:
            self._acknowledge(peer, request, seq)

    def _acknowledge(self, peer: Peer, request: Publish, seq: int) -> None:
        ack = protocol.publish_ack(request.channel, len(request.events), seq, request.id)
        peer.send(text_frame(ack))

    def _refuse(self, peer: Peer, request: Publish, exc: TransportError) -> None:
        self._counters.publish_failures += 1
        message = protocol.error(protocol.ErrorCode.UNAVAILABLE, str(exc), request.id)
        peer.send(text_frame(message))
