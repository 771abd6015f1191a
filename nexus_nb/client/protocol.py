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

Recovery (our ``recover`` extension, used when the server announces it): a
``gap`` with ``reason: "overflow"`` names the skipped range; instead of handing
that gap on, the protocol asks for the range back (a :class:`Steps` whose
``send`` is the ``recover`` action) and holds the channel's live frames, which
come after the hole, until the answer. The retained events arrive as ordinary
event frames and pass at once; the ``recovered`` reply releases the held frames
in order, and a ``gap`` is handed on only for what the server no longer held,
with ``missed`` exactly the events that never came. The held frames are
bounded by ``max_hold`` events: past it, or when the connection ends, the
frames are released and the unrecovered holes are reported as gaps.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Final

from nexus_nb import protocol
from nexus_nb.client.registry import Registry
from nexus_nb.client.reply import Replies
from nexus_nb.client.sequence import SeqTracker
from nexus_nb.client.state import ClientStats
from nexus_nb.exceptions import ProtocolError
from nexus_nb.protocol import EventColumns, EventFrame, Greeting, Notice, Reply

__all__ = [
    "MAX_HOLD",
    "Answer",
    "ClientProtocol",
    "Outgoing",
    "Received",
    "Resubscription",
    "Steps",
]

log = logging.getLogger("nexus_nb.client")

#: Default bound of the live events held per channel while a hole is recovered.
MAX_HOLD: Final = 100_000


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


@dataclass(frozen=True, slots=True)
class Steps:
    """Several things to do for one frame, in order: what a recovery step releases.

    ``items`` are event frames to deliver and notices for the handlers; then
    ``send``, when not ``None``, is an action to send now (its reply is handled
    by the protocol itself, so nobody waits for it).
    """

    items: tuple[EventFrame | Notice, ...] = ()
    send: Outgoing | None = None


Received = EventFrame | Answer | Notice | Steps
"""What one frame asks of the caller; see :meth:`ClientProtocol.receive_data`."""


@dataclass(slots=True)
class _Hole:
    """A range the server skipped (its ``gap``), and what came back of it so far."""

    gap: dict[str, Any]
    from_seq: int
    to_seq: int
    missed: int
    got: int = 0


@dataclass(slots=True)
class _Recovery:
    """One channel's holes, oldest first, and the live frames held behind them."""

    holes: deque[_Hole]
    held: list[EventFrame] = field(default_factory=list)
    held_events: int = 0
    request_id: int | None = None


class ClientProtocol:
    """Everything a client knows of its conversation with a server, with no I/O.

    One per client, across its connections: :meth:`connected` starts each one,
    :meth:`disconnected` ends it. Between the two, every frame read goes to
    :meth:`receive_data` and every action to send comes from one of
    :meth:`subscribe`, :meth:`unsubscribe`, :meth:`ping`, :meth:`publish`.

    Args:
        resume: After a reconnect to the same server run, ask it to replay what
            was missed (see :meth:`restore_plan`).
        recover: Ask a server that announces ``recover`` for the ranges it
            skipped (``overflow`` gaps); see the module docstring.
        max_hold: Live events held per channel while its holes are recovered.
    """

    def __init__(
        self, *, resume: bool = True, recover: bool = True, max_hold: int = MAX_HOLD
    ) -> None:
        if max_hold < 0:
            raise ValueError("max_hold must be >= 0")
        self.resume = resume
        self.recover = recover
        self.max_hold = max_hold
        self._server_recovers = False
        self._recovering: dict[str, _Recovery] = {}
        self.stats = ClientStats()
        self.seq = SeqTracker()
        self.registry = Registry()
        self.replies = Replies()
        #: request id -> what records its (un)subscription, called when confirmed;
        #: bounded as ``replies`` is: dropped with the connection.
        self._changes: dict[int, Callable[[], None]] = {}
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
        self._changes.clear()
        extensions = greeting.message.get("extensions")
        self._server_recovers = isinstance(extensions, list) and "recover" in extensions
        self.stats.messages_received += 1
        return self.seq.start_epoch(greeting.epoch)

    def disconnected(self) -> Steps | None:
        """End the connection: no reply can come any more for what is pending.

        Returns:
            What recoveries under way release (held frames, then a gap per hole
            not recovered), or ``None`` when none was.
        """
        self.replies.clear()
        self._changes.clear()
        if not self._recovering:
            return None
        items: list[EventFrame | Notice] = []
        for channel in list(self._recovering):
            items += self._give_up(channel)
        return Steps(tuple(items))

    # -- what to send --------------------------------------------------------

    def subscribe(
        self,
        channels: Sequence[str],
        filters: Mapping[str, Any] | None = None,
        *,
        batch: protocol.Batch | None = None,
        resume: tuple[str, Mapping[str, int]] | None = None,
    ) -> Outgoing:
        """A ``subscribe`` action, recorded with :meth:`subscribed` when its reply confirms it.

        Recorded as the reply is read, not when the caller resumes: the frames
        read right after it (a ``gap`` to recover, say) already belong to the
        subscription.
        """
        outgoing = self._subscribe_action(channels, filters, batch, resume)
        self._changes[outgoing.request_id] = partial(
            self.subscribed, list(channels), filters, batch
        )
        return outgoing

    def _subscribe_action(
        self,
        channels: Sequence[str],
        filters: Mapping[str, Any] | None,
        batch: protocol.Batch | None,
        resume: tuple[str, Mapping[str, int]] | None,
    ) -> Outgoing:
        request_id = self.replies.register()
        data = protocol.subscribe(
            channels, filters, request_id=request_id, resume=resume, batch=batch
        )
        return Outgoing(request_id, data)

    def unsubscribe(self, channels: Sequence[str]) -> Outgoing:
        """An ``unsubscribe`` action, recorded (:meth:`unsubscribed`) when its reply confirms it."""
        request_id = self.replies.register()
        self._changes[request_id] = partial(self.unsubscribed, list(channels))
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
        return self._subscribe_action(plan.channels, plan.filters, plan.batch, plan.resume)

    # -- subscriptions -------------------------------------------------------

    def subscribed(
        self,
        channels: Sequence[str],
        filters: Mapping[str, Any] | None,
        batch: protocol.Batch | None,
    ) -> None:
        """Record a confirmed subscription, to restore it after a reconnect.

        :meth:`receive_data` calls it for the reply to :meth:`subscribe`.
        """
        self.registry.add(channels, filters, batch)

    def unsubscribed(self, channels: Sequence[str]) -> None:
        """Forget ``channels`` under every filter (the server confirmed).

        :meth:`receive_data` calls it for the reply to :meth:`unsubscribe`.
        """
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
            if self._recovering and message.channel in self._recovering:
                return self._during_recovery(message)
            return self._accept(message)
        if isinstance(message, Reply):
            request_id = self.replies.match(message)
            if request_id is not None and self._changes:
                record = self._changes.pop(request_id, None)
                if record is not None and message.error is None:
                    record()
            if self._recovering and request_id is not None:
                for channel, recovery in self._recovering.items():
                    if recovery.request_id == request_id:
                        return self._recovered(channel, recovery, message)
            if request_id is None and message.kind == "error":
                body = message.message
                stats.last_error = f"server error {body.get('code')}: {body.get('message')}"
            return Answer(request_id, message)
        if isinstance(message, Greeting):
            # A second greeting on one connection: handlers see it, nothing resets.
            return Notice("connection_established", message.message)
        if message.kind == "gap":
            stats.gaps += 1
            steps = self._on_gap(message.message)
            if steps is not None:
                return steps
        return message

    def _accept(self, frame: EventFrame) -> EventFrame | None:
        """The frame's events not seen before (counted), or ``None`` if there are none."""
        channel, events = frame.channel, frame.events
        if isinstance(events, EventColumns):
            fresh: list[dict[str, Any]] | EventColumns = self.seq.accept_columns(events)
        else:
            fresh = self.seq.accept_batch(channel, events)
        n = len(fresh)
        stats = self.stats
        if n != len(events):
            stats.duplicates += len(events) - n
        if not n:
            return None
        stats.events_received += n
        stats.channels[channel] = stats.channels.get(channel, 0) + n
        return frame if fresh is events else EventFrame(channel, fresh)

    # -- recovery --------------------------------------------------------------

    def _on_gap(self, gap: dict[str, Any]) -> Steps | None:
        """Start recovering an ``overflow`` gap's range, or ``None`` to hand the gap on."""
        channel, first, last = gap.get("channel"), gap.get("from_seq"), gap.get("to_seq")
        missed = gap.get("missed")
        if (
            not (self.recover and self._server_recovers)
            or gap.get("reason") != "overflow"
            or not isinstance(channel, str)
            or channel not in self.registry.view()
            or type(first) is not int
            or type(last) is not int
            or type(missed) is not int
            or not 1 <= first <= last
        ):
            return None
        hole = _Hole(gap, first, last, missed)
        recovery = self._recovering.get(channel)
        if recovery is not None:
            recovery.holes.append(hole)
            return Steps()
        recovery = self._recovering[channel] = _Recovery(deque([hole]))
        return Steps(send=self._ask_recovery(channel, recovery))

    def _ask_recovery(self, channel: str, recovery: _Recovery) -> Outgoing:
        hole = recovery.holes[0]
        request_id = self.replies.register()
        recovery.request_id = request_id
        data = protocol.recover(channel, hole.from_seq, hole.to_seq, request_id=request_id)
        return Outgoing(request_id, data)

    def _during_recovery(self, frame: EventFrame) -> Received | None:
        recovery = self._recovering[frame.channel]
        events = frame.events
        if isinstance(events, EventColumns):
            first = events.seq[0] if events.seq else None
        else:
            first = events[0].get("seq") if events else None
        hole = recovery.holes[0]
        if (
            recovery.request_id is not None
            and type(first) is int
            and hole.from_seq <= first <= hole.to_seq
        ):
            # Sent back for the hole: in order, ahead of everything held.
            hole.got += len(events)
            return self._accept(frame)
        recovery.held.append(frame)
        recovery.held_events += len(events)
        if recovery.held_events > self.max_hold:
            return Steps(tuple(self._give_up(frame.channel)))
        return None

    def _recovered(self, channel: str, recovery: _Recovery, reply: Reply) -> Steps:
        """The answer to a ``recover``: ask for more, or close the hole and release."""
        recovery.request_id = None
        hole = recovery.holes[0]
        notice = Notice(reply.kind, reply.message)
        stop = reply.message.get("to_seq")
        if reply.error is None and type(stop) is int and hole.from_seq <= stop < hole.to_seq:
            hole.from_seq = stop + 1  # the server stopped at its limit: the next page
            return Steps((notice,), self._ask_recovery(channel, recovery))
        items: list[EventFrame | Notice] = [notice, *self._close_hole(recovery)]
        if recovery.holes:
            # Release what came before the next hole; the rest waits for it.
            start = recovery.holes[0].from_seq
            keep = [f for f in recovery.held if _first_seq(f) > start]
            release = [f for f in recovery.held if _first_seq(f) <= start]
            recovery.held = keep
            recovery.held_events = sum(len(f.events) for f in keep)
            items += [f for f in map(self._accept, release) if f is not None]
            return Steps(tuple(items), self._ask_recovery(channel, recovery))
        del self._recovering[channel]
        items += [f for f in map(self._accept, recovery.held) if f is not None]
        return Steps(tuple(items))

    def _close_hole(self, recovery: _Recovery) -> list[Notice]:
        """Drop the oldest hole; a ``gap`` notice for what of it never came, if any."""
        hole = recovery.holes.popleft()
        self.stats.recovered += hole.got
        lost = hole.missed - hole.got
        if lost <= 0:
            return []
        gap = {**hole.gap, "missed": lost, "recovered": hole.got}
        return [Notice("gap", gap)]

    def _give_up(self, channel: str) -> list[EventFrame | Notice]:
        """End a channel's recovery now: every hole left is lost, every held frame released."""
        recovery = self._recovering.pop(channel)
        items: list[EventFrame | Notice] = []
        while recovery.holes:
            items += self._close_hole(recovery)
        items += [f for f in map(self._accept, recovery.held) if f is not None]
        return items


def _first_seq(frame: EventFrame) -> int:
    """The ``seq`` of a frame's first event (0 when it has none)."""
    events = frame.events
    if isinstance(events, EventColumns):
        return events.seq[0] if events.seq else 0
    seq = events[0].get("seq") if events else None
    return seq if type(seq) is int else 0
