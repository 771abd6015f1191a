"""Answers to client actions: subscribe, unsubscribe, ping, publish and recover.

Everything here is synchronous and runs on the server's loop, which is what
makes ``resume`` exact: the retained events are queued and the subscription is
indexed in the same step, so no live event can fall between them or arrive twice.
``recover`` is answered the same way: the retained events of the asked range
that match the client's subscriptions, then ``recovered``, with no live event
between them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Collection
from enum import Enum

import orjson

from nexus_nb import protocol
from nexus_nb.exceptions import ProtocolError
from nexus_nb.protocol import ErrorCode, Ping, Publish, Recover, Subscribe, Unsubscribe
from nexus_nb.server.eventlog import EventLog
from nexus_nb.server.fanout import Fanout
from nexus_nb.server.frame import text_frame
from nexus_nb.server.metrics import Counters
from nexus_nb.server.peer import Peer

__all__ = ["Router", "Verdict"]


class Verdict(Enum):
    """What the connection should do after a frame."""

    CONTINUE = "continue"
    CLOSE_RATE_LIMITED = "close_rate_limited"


def _request_fields(raw: str | bytes) -> tuple[object, object]:
    # Only on the error path: which action and id the bad frame carried, if any.
    try:
        message = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(message, dict):
        return None, None
    return message.get("action"), message.get("id")


class Router:
    """Parses each client frame and answers it through the peer's outbox.

    Args:
        log: Where published events get their ``seq``; also serves ``resume``.
        fanout: The subscription index.
        counters: Where received messages and errors are counted.
        publish: Stores an allowed ``publish`` request and acknowledges it to the
            peer, now or once the log has assigned its ``seq`` (the server's).
        channels: The channels this server serves.
        limits: Per-request bounds.
        max_subscriptions: Distinct (channel, filter) subscriptions per connection.
    """

    def __init__(
        self,
        log: EventLog,
        fanout: Fanout,
        counters: Counters,
        publish: Callable[[Peer, Publish], None],
        *,
        channels: Collection[str],
        limits: protocol.Limits,
        max_subscriptions: int,
    ) -> None:
        self._log = log
        self._fanout = fanout
        self._counters = counters
        self._publish = publish
        self._channels = channels
        self._limits = limits
        self._max_subscriptions = max_subscriptions
        self._ids = itertools.count(1)

    def receive(self, peer: Peer, raw: str | bytes) -> Verdict:
        """Answer one frame; a second frame over the rate limit in a row closes."""
        self._counters.messages_received += 1
        if not peer.bucket.take():
            peer.strikes += 1
            if peer.strikes > 1:
                self._counters.rate_limit_disconnects += 1
                return Verdict.CLOSE_RATE_LIMITED
            self._counters.rate_limited += 1
            self._error(peer, ErrorCode.RATE_LIMITED, "rate limit exceeded; slow down", None)
            return Verdict.CONTINUE
        peer.strikes = 0
        try:
            request = protocol.parse_request(raw, channels=self._channels, limits=self._limits)
        except ProtocolError as exc:
            action, request_id = _request_fields(raw)
            if action == protocol.Action.SUBSCRIBE:
                self._refuse(peer, exc, request_id)
            else:
                self._error(peer, exc.code, exc.message, request_id)
            return Verdict.CONTINUE
        if isinstance(request, Subscribe):
            self._subscribe(peer, request)
        elif isinstance(request, Unsubscribe):
            for channel in request.channels:
                self._fanout.unsubscribe(peer, channel)
            peer.send(text_frame(protocol.unsubscription_confirmed(request.channels, request.id)))
        elif isinstance(request, Ping):
            peer.send(text_frame(protocol.pong(request.id)))
        elif isinstance(request, Publish):
            self._publish_events(peer, request)
        elif isinstance(request, Recover):
            self._recover(peer, request)
        return Verdict.CONTINUE

    def _error(self, peer: Peer, code: str, message: str, request_id: object) -> None:
        self._counters.protocol_errors += 1
        peer.send(text_frame(protocol.error(code, message, request_id)))

    def _refuse(self, peer: Peer, exc: ProtocolError, request_id: object) -> None:
        self._counters.protocol_errors += 1
        peer.send(text_frame(protocol.subscription_error(exc, request_id)))

    def _subscribe(self, peer: Peer, request: Subscribe) -> None:
        forbidden = [c for c in request.channels if not peer.principal.can_subscribe(c)]
        if forbidden:
            shown = ", ".join(forbidden[:8])
            exc = ProtocolError(ErrorCode.FORBIDDEN, f"Not allowed to subscribe: {shown}")
            self._refuse(peer, exc, request.id)
            return
        identity = request.filter.identity
        new = sum(1 for c in request.channels if identity not in peer.subs.get(c, {}))
        if peer.subscription_count + new > self._max_subscriptions:
            exc = ProtocolError(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"at most {self._max_subscriptions} subscriptions per connection",
            )
            self._refuse(peer, exc, request.id)
            return
        subscription_id = f"sub_{int(time.time() * 1000)}_{next(self._ids)}"
        peer.send(
            text_frame(
                protocol.subscription_confirmed(
                    request.channels, request.filter.source, subscription_id, request.id
                )
            )
        )
        resume = request.resume_seq if request.resume_epoch == self._log.epoch else None
        for channel in request.channels:
            # Subscribing first lets replayed events use the requested batch mode;
            # both steps run without yielding, so no live event falls between them.
            self._fanout.subscribe(peer, channel, request.filter, request.batch)
            if resume is not None and channel in resume:
                self._resume(peer, request, channel, resume[channel])

    def _resume(self, peer: Peer, request: Subscribe, channel: str, seq: int) -> None:
        if seq > self._log.last_seq(channel):
            # A client arriving from another instance of a shared log can be ahead of
            # this instance's reader: those events will still come live; skip them.
            peer.floors[channel] = seq
        entries, missed = self._log.since(channel, seq)
        if missed is not None:
            self._counters.gaps_sent += 1
            peer.send_gap(channel, missed.count, missed.from_seq, missed.to_seq, "retention")
        self._fanout.replay(peer, request.filter, entries)

    def _recover(self, peer: Peer, request: Recover) -> None:
        """Send again the retained events of the range that this peer's filters match.

        At most ``limits.max_recover`` of them, queued as control frames (never
        skipped: the client asked for them and waits); ``recovered`` says where
        this answer stopped. Events the log no longer holds are simply absent:
        the client counts what came against what its ``gap`` said it missed.
        """
        channel = request.channel
        filters = list(peer.subs.get(channel, {}).values())
        if not filters:
            self._error(peer, ErrorCode.INVALID_CHANNEL, f"not subscribed to {channel}", request.id)
            return
        entries, _ = self._log.since(channel, request.from_seq - 1)
        limit = self._limits.max_recover
        count, stop = 0, request.to_seq
        for entry in entries:
            if entry.seq > request.to_seq:
                break
            if not any(f.matches(entry.data) for f in filters):
                continue
            if count == limit:
                stop = entry.seq - 1
                break
            peer.send(text_frame(entry.payload))
            count += 1
        self._counters.recovered += count
        peer.send(
            text_frame(
                protocol.recovered(
                    channel,
                    from_seq=request.from_seq,
                    to_seq=stop,
                    count=count,
                    request_id=request.id,
                )
            )
        )

    def _publish_events(self, peer: Peer, request: Publish) -> None:
        if not peer.principal.can_publish(request.channel):
            self._error(
                peer,
                ErrorCode.FORBIDDEN,
                f"Not allowed to publish: {request.channel}",
                request.id,
            )
            return
        self._publish(peer, request)
