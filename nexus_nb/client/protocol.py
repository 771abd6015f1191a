"""The client side of the Nexus protocol as one object that does no I/O.

As websockets' ``Protocol`` consumes bytes and returns what to send and what
happened, :class:`ClientProtocol` takes each frame the server sent
(:meth:`~ClientProtocol.receive_data`) and returns what the caller must do with
it: deliver an :class:`~nexus_nb.protocol.EventFrame`, settle an
:class:`Answer`, or tell handlers of a :class:`~nexus_nb.protocol.Notice`. It
builds every action as an :class:`Outgoing` (bytes plus the request id its reply
will carry), and plans the resubscription after a reconnect. It owns the state
all of that needs: reply matching, per-channel ``seq`` tracking, the epoch, the
subscriptions and the counters. It opens no socket and starts no task, so it is
tested with plain calls; :class:`~nexus_nb.client.link.Link` moves the bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from nexus_nb import protocol
from nexus_nb.client.registry import Registry
from nexus_nb.client.reply import Replies
from nexus_nb.client.sequence import SeqTracker
from nexus_nb.client.state import ClientStats
from nexus_nb.exceptions import ProtocolError
from nexus_nb.protocol import EventColumns, EventFrame, Greeting, Notice, Reply

__all__ = ["Answer", "ClientProtocol", "Outgoing", "Received", "Resubscription"]

log = logging.getLogger("nexus_nb.client")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One action to send: ``data`` is its text frame, ``request_id`` what its reply matches."""

    request_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """A reply, and the request it answers (``None``: it answers none pending)."""

    request_id: int | None
    reply: Reply


@dataclass(frozen=True, slots=True)
class Resubscription:
    """One ``subscribe`` that restores subscriptions after a reconnect.

    ``resume`` is ``(epoch, {channel: last seq})`` when the server is asked to
    replay what was missed, else ``None``.
    """

    channels: list[str]
    filters: dict[str, Any]
    batch: protocol.Batch | None
    resume: tuple[str, dict[str, int]] | None


Received = EventFrame | Answer | Notice
"""What one frame asks of the caller; see :meth:`ClientProtocol.receive_data`."""


class ClientProtocol:
    """Everything a client knows of its conversation with a server, with no I/O.

    One per client, across its connections: :meth:`connected` starts each one,
    :meth:`disconnected` ends it. Between the two, every frame read goes to
    :meth:`receive_data` and every action to send comes from one of
    :meth:`subscribe`, :meth:`unsubscribe`, :meth:`ping`, :meth:`publish`.

    Args:
        resume: After a reconnect to the same server run, ask it to replay what
            was missed (see :meth:`restore_plan`).
    """

    def __init__(self, *, resume: bool = True) -> None:
        self.resume = resume
        self.stats = ClientStats()
        self.seq = SeqTracker()
        self.registry = Registry()
        self.replies = Replies()
        self.client_id: str | None = None

    @property
    def epoch(self) -> str | None:
        """The server run the current (or last) connection belongs to."""
        return self.seq.epoch

    # -- connection life -----------------------------------------------------

    def connected(self, hello: Mapping[str, Any]) -> bool:
        """Start a connection whose ``connection_established`` is ``hello``.

        Returns:
            Whether the server's epoch changed (it restarted and numbers ``seq``
            from 1 again): then nothing can be resumed.
        """
        greeting = protocol.greeting(hello)
        self.client_id = greeting.client_id
        self.replies = Replies(echoes_id=greeting.echoes_id)
        self.stats.messages_received += 1
        return self.seq.start_epoch(greeting.epoch)

    def disconnected(self) -> None:
        """End the connection: no reply can come any more for what is pending."""
        self.replies.clear()

    # -- what to send --------------------------------------------------------

    def subscribe(
        self,
        channels: Sequence[str],
        filters: Mapping[str, Any] | None = None,
        *,
        batch: protocol.Batch | None = None,
        resume: tuple[str, Mapping[str, int]] | None = None,
    ) -> Outgoing:
        """A ``subscribe`` action; record it with :meth:`subscribed` once confirmed."""
        request_id = self.replies.register()
        data = protocol.subscribe(
            channels, filters, request_id=request_id, resume=resume, batch=batch
        )
        return Outgoing(request_id, data)

    def unsubscribe(self, channels: Sequence[str]) -> Outgoing:
        """An ``unsubscribe`` action; record it with :meth:`unsubscribed` once confirmed."""
        request_id = self.replies.register()
        return Outgoing(request_id, protocol.unsubscribe(channels, request_id=request_id))

    def ping(self) -> Outgoing:
        """A ``ping`` action (the heartbeat, or a round-trip measurement)."""
        request_id = self.replies.register()
        return Outgoing(request_id, protocol.ping(request_id=request_id))

    def publish(
        self,
        channel: str,
        events: Sequence[Mapping[str, Any]],
        *,
        timestamp: str | None = None,
    ) -> Outgoing:
        """A ``publish`` action of one or more event payloads on ``channel``."""
        request_id = self.replies.register()
        data = protocol.publish(channel, events, timestamp=timestamp, request_id=request_id)
        return Outgoing(request_id, data)

    def resubscribe(self, plan: Resubscription) -> Outgoing:
        """The ``subscribe`` action of one step of :meth:`restore_plan`."""
        return self.subscribe(plan.channels, plan.filters, batch=plan.batch, resume=plan.resume)

    # -- subscriptions -------------------------------------------------------

    def subscribed(
        self,
        channels: Sequence[str],
        filters: Mapping[str, Any] | None,
        batch: protocol.Batch | None,
    ) -> None:
        """Record a confirmed subscription, to restore it after a reconnect."""
        self.registry.add(channels, filters, batch)

    def unsubscribed(self, channels: Sequence[str]) -> None:
        """Forget ``channels`` under every filter (the server confirmed)."""
        self.registry.remove(channels)

    @property
    def subscriptions(self) -> dict[str, list[dict[str, Any] | None]]:
        """Channel -> the filters subscribed on it (``None`` for no filter)."""
        return self.registry.view()

    def restore_plan(self, epoch_changed: bool) -> list[Resubscription]:
        """The ``subscribe`` actions that restore every subscription on a new connection.

        Each asks to resume from the last ``seq`` seen on its channels when
        resuming is on, the epoch is unchanged and some event was seen; channels
        with none are not resumed (from 0 they would replay events published
        before the subscription existed).
        """
        plan = []
        for channels, filters, batch in self.registry.plan():
            resume = None if epoch_changed else self._resume_point(channels)
            plan.append(Resubscription(channels, filters, batch, resume))
        return plan

    def _resume_point(self, channels: list[str]) -> tuple[str, dict[str, int]] | None:
        epoch = self.seq.epoch
        if not self.resume or epoch is None:
            return None
        seq = self.seq.resume_point(channels)
        return (epoch, seq) if seq else None

    @staticmethod
    def fallback(plan: Resubscription, error: ProtocolError) -> Resubscription | None:
        """The live ``subscribe`` to try when the server refused ``plan``'s resume, else ``None``.

        A server that cannot resume (``INVALID_RESUME``: too old a seq, or no
        retention) can still serve the subscription live; any other refusal is final.
        """
        if plan.resume is None or error.code != protocol.ErrorCode.INVALID_RESUME:
            return None
        return replace(plan, resume=None)

    # -- what was received ---------------------------------------------------

    def receive_data(self, raw: bytes | str) -> Received | None:
        """Take one frame from the server; return what to do with it.

        Returns:
            An :class:`~nexus_nb.protocol.EventFrame` of the events not seen
            before (deliver them), an :class:`Answer` (settle its request, then
            tell the handlers of its type), a :class:`~nexus_nb.protocol.Notice`
            (tell the handlers), or ``None``: nothing to do (every event a
            duplicate, or the frame malformed, which is counted and logged).
        """
        stats = self.stats
        stats.messages_received += 1
        try:
            message = protocol.parse_server_message(raw)
        except ProtocolError as exc:
            stats.malformed += 1
            stats.last_error = f"malformed message from the server: {exc.message}"
            log.warning("nexus_nb client: %s", stats.last_error)
            return None
        if isinstance(message, EventFrame):
            # The per-frame hot path, inlined: duplicates out, counters up.
            channel, events = message.channel, message.events
            if isinstance(events, EventColumns):
                fresh: list[dict[str, Any]] | EventColumns = self.seq.accept_columns(events)
            else:
                fresh = self.seq.accept_batch(channel, events)
            n = len(fresh)
            if n != len(events):
                stats.duplicates += len(events) - n
            if not n:
                # Every event a duplicate, or an empty batch: nothing to hand on.
                return None
            if fresh is not events:
                message = EventFrame(channel, fresh)
            stats.events_received += n
            counts = stats.channels
            counts[channel] = counts.get(channel, 0) + n
            return message
        if isinstance(message, Reply):
            request_id = self.replies.match(message)
            if request_id is None and message.kind == "error":
                body = message.message
                stats.last_error = f"server error {body.get('code')}: {body.get('message')}"
            return Answer(request_id, message)
        if isinstance(message, Greeting):
            # A second greeting on one connection: handlers see it, nothing resets.
            return Notice("connection_established", message.message)
        if message.kind == "gap":
            stats.gaps += 1
        return message
