"""The Nexus WebSocket protocol: message shapes, validation and filters, with no I/O.

Everything the reference server and clients exchange is built and parsed here,
field for field and in the reference's key order, so that the reference Node and
browser clients read our frames byte for byte as they read the reference
server's. Our extensions are additive: extra fields the reference clients ignore,
and actions/message types they never send or ask for.

Client actions (client -> server)
=================================
============  ========================================================  ==========
action        fields                                                    reply
============  ========================================================  ==========
subscribe     ``channels`` (list), ``filters`` (object, optional);      subscription_confirmed
              ext: ``id``, ``resume`` {epoch, seq: {channel: n}},       or subscription_error
              ``batch`` {maxlen, interval}
unsubscribe   ``channels`` (list); ext: ``id``                          unsubscription_confirmed
ping          ext: ``id``                                               pong
publish       ext: ``channel``, ``data`` (object) or ``events`` (list   publish_ack
              of objects), ``timestamp`` (optional ISO), ``id``
============  ========================================================  ==========

Server messages (server -> client)
==================================
* ``connection_established`` {client_id, timestamp}; ext: epoch, server, extensions
* ``subscription_confirmed`` {channels, filters, subscription_id}; ext: id
* ``subscription_error`` {message}; ext: code, channels, id
* ``unsubscription_confirmed`` {channels}; ext: id
* ``event`` {channel, timestamp, data}; ext: seq (per channel, from 1, in the epoch)
* ``error`` {message, code}; ext: id
* ``pong`` {timestamp}; ext: id
* ext ``event_batch`` {channel, events: [event, ...]}: only to clients that asked
* ext ``publish_ack`` {channel, count, seq}; ``gap`` {channel, missed, from_seq,
  to_seq, reason}: events the client will never get (retention or overflow)

Error codes
===========
See :class:`ErrorCode`; each member's docstring line is the table.

Filter semantics (the reference's ``matchesFilters``): every key must match the
event's ``data[key]``; a list value means "any of"; comparison is JSON strict
equality (``true`` is not ``1``; a missing key matches nothing, not even null).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import orjson

from nexus_nb.exceptions import ProtocolError

__all__ = [
    "CHANNELS",
    "MAX_CHANNEL_LENGTH",
    "Action",
    "Batch",
    "ErrorCode",
    "Filter",
    "Limits",
    "Ping",
    "Publish",
    "Request",
    "Subscribe",
    "Unsubscribe",
    "connection_established",
    "dumps",
    "error",
    "event",
    "event_batch",
    "gap",
    "isotime",
    "loads",
    "parse_request",
    "ping",
    "pong",
    "publish",
    "publish_ack",
    "subscribe",
    "subscription_confirmed",
    "subscription_error",
    "unsubscribe",
    "unsubscription_confirmed",
]

#: The reference server's seven channels: the default channel set.
CHANNELS: Final[tuple[str, ...]] = (
    "telemetry.metrics",
    "telemetry.events",
    "tasks.updates",
    "tasks.created",
    "commands.status",
    "ai.requests",
    "system.alerts",
)
MAX_CHANNEL_LENGTH: Final = 128


class Action(StrEnum):
    """The client actions the server understands."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PING = "ping"
    PUBLISH = "publish"


class ErrorCode(StrEnum):
    """Stable error codes carried by ``error`` and ``subscription_error`` messages."""

    INVALID_MESSAGE = "INVALID_MESSAGE"  #: not JSON, not an object, or a binary frame
    MISSING_ACTION = "MISSING_ACTION"  #: no ``action`` field, or not a string
    UNKNOWN_ACTION = "UNKNOWN_ACTION"  #: ``action`` is not one of :class:`Action`
    INVALID_FIELD = "INVALID_FIELD"  #: a field has the wrong type or is missing
    INVALID_CHANNEL = "INVALID_CHANNEL"  #: unknown, empty or over-long channel name
    INVALID_FILTER = "INVALID_FILTER"  #: filter value not a scalar or list of scalars, or too big
    INVALID_RESUME = "INVALID_RESUME"  #: malformed ``resume`` request
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"  #: per-connection subscription limit hit
    RATE_LIMITED = "RATE_LIMITED"  #: too many messages per second; the connection closes next
    FORBIDDEN = "FORBIDDEN"  #: the credentials lack the scope for this channel or action
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"  #: a published batch over the per-message limit
    UNAVAILABLE = "UNAVAILABLE"  #: a publish could not be stored now (shared log unreachable)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds on what one request may ask for; exceeding one is a protocol error.

    Attributes:
        max_channels: Channels named in one subscribe/unsubscribe.
        max_filter_keys: Keys in one filter object.
        max_filter_values: Values in one filter list.
        max_filter_value_length: Characters in one string filter value.
        max_publish_events: Events in one ``publish`` with ``events``.
        max_batch: Largest ``batch.maxlen`` a client may ask for.
    """

    max_channels: int = 64
    max_filter_keys: int = 32
    max_filter_values: int = 256
    max_filter_value_length: int = 256
    max_publish_events: int = 10_000
    max_batch: int = 1_000


_SCALARS = (str, int, float, bool, type(None))


def _key(value: object) -> object:
    # JSON strict equality: bools are not numbers, 1 == 1.0, strings by value.
    return ("b", value) if isinstance(value, bool) else value


@dataclass(frozen=True, slots=True)
class Filter:
    """A compiled subscription filter; :meth:`matches` is the reference's ``matchesFilters``.

    Build one with :meth:`compile`. An empty filter matches every event.
    """

    terms: tuple[tuple[str, frozenset[object]], ...]
    source: Mapping[str, Any] | None

    @classmethod
    def compile(cls, filters: object, limits: Limits | None = None) -> Filter:
        """Validate ``filters`` (a JSON object or ``None``) and compile it.

        Raises:
            ProtocolError: ``INVALID_FILTER`` when it is not an object of scalars or
                lists of scalars, or exceeds ``limits``.
        """
        limits = limits or Limits()
        if filters is None:
            return cls((), None)
        if not isinstance(filters, dict):
            raise ProtocolError(ErrorCode.INVALID_FILTER, "filters must be an object")
        if len(filters) > limits.max_filter_keys:
            raise ProtocolError(
                ErrorCode.INVALID_FILTER, f"at most {limits.max_filter_keys} filter keys"
            )
        terms = []
        for key, value in filters.items():
            values = value if isinstance(value, list) else [value]
            if len(values) > limits.max_filter_values:
                raise ProtocolError(
                    ErrorCode.INVALID_FILTER,
                    f"filter {key!r}: at most {limits.max_filter_values} values",
                )
            for item in values:
                if not isinstance(item, _SCALARS) or (
                    isinstance(item, float) and not math.isfinite(item)
                ):
                    raise ProtocolError(
                        ErrorCode.INVALID_FILTER,
                        f"filter {key!r}: values must be strings, numbers, booleans or null",
                    )
                if isinstance(item, str) and len(item) > limits.max_filter_value_length:
                    raise ProtocolError(
                        ErrorCode.INVALID_FILTER,
                        f"filter {key!r}: values longer than "
                        f"{limits.max_filter_value_length} characters",
                    )
            terms.append((key, frozenset(_key(v) for v in values)))
        return cls(tuple(sorted(terms, key=lambda t: t[0])), filters)

    def matches(self, data: Mapping[str, Any]) -> bool:
        """Whether the event payload ``data`` passes every term."""
        for key, allowed in self.terms:
            value = data.get(key, _MISSING)
            if isinstance(value, list | dict):
                return False
            if _key(value) not in allowed:
                return False
        return True

    @property
    def identity(self) -> tuple[tuple[str, frozenset[object]], ...]:
        """A hashable key equal for filters that select the same events."""
        return self.terms


_MISSING = object()


@dataclass(frozen=True, slots=True)
class Batch:
    """A client's request for batched delivery: flush after ``maxlen`` events or ``interval`` s."""

    maxlen: int
    interval: float


@dataclass(frozen=True, slots=True)
class Subscribe:
    """A validated ``subscribe`` action."""

    channels: tuple[str, ...]
    filter: Filter
    id: object = None
    resume_epoch: str | None = None
    resume_seq: Mapping[str, int] | None = None
    batch: Batch | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """A validated ``unsubscribe`` action."""

    channels: tuple[str, ...]
    id: object = None


@dataclass(frozen=True, slots=True)
class Ping:
    """A ``ping`` action."""

    id: object = None


@dataclass(frozen=True, slots=True)
class Publish:
    """A validated ``publish`` action: one or more event payloads for one channel."""

    channel: str
    events: tuple[dict[str, Any], ...]
    timestamp: str | None = None
    id: object = None


Request = Subscribe | Unsubscribe | Ping | Publish


def loads(raw: str | bytes) -> Any:
    """Decode one JSON text (orjson: ~4x faster than ``json``)."""
    return orjson.loads(raw)


def dumps(message: Mapping[str, Any]) -> bytes:
    """Encode one message as compact JSON, keys in insertion order, as ``JSON.stringify``."""
    return orjson.dumps(message)


def isotime(t: float | None = None) -> str:
    """Format a UNIX time (default: now) as JS ``toISOString()``: ``2025-11-03T01:54:00.000Z``."""
    t = time.time() if t is None else t
    ms = round(t * 1000)
    secs, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{millis:03d}Z"


def _channels(
    message: Mapping[str, Any], known: Collection[str], limits: Limits
) -> tuple[str, ...]:
    channels = message.get("channels")
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise ProtocolError(ErrorCode.INVALID_FIELD, "channels must be a list of strings")
    if not channels:
        raise ProtocolError(ErrorCode.INVALID_FIELD, "channels must not be empty")
    if len(channels) > limits.max_channels:
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"at most {limits.max_channels} channels")
    invalid = [c for c in channels if c not in known]
    if invalid:
        shown = ", ".join(c[:MAX_CHANNEL_LENGTH] for c in invalid[:8])
        raise ProtocolError(ErrorCode.INVALID_CHANNEL, f"Invalid channels: {shown}")
    return tuple(dict.fromkeys(channels))


def _resume(message: Mapping[str, Any]) -> tuple[str | None, dict[str, int] | None]:
    resume = message.get("resume")
    if resume is None:
        return None, None
    if not isinstance(resume, dict):
        raise ProtocolError(ErrorCode.INVALID_RESUME, "resume must be an object")
    epoch, seq = resume.get("epoch"), resume.get("seq")
    if not isinstance(epoch, str) or not isinstance(seq, dict):
        raise ProtocolError(
            ErrorCode.INVALID_RESUME, "resume needs epoch (string) and seq (object)"
        )
    for channel, n in seq.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ProtocolError(
                ErrorCode.INVALID_RESUME, f"resume seq for {channel[:MAX_CHANNEL_LENGTH]!r}"
            )
    return epoch, dict(seq)


def _batch(message: Mapping[str, Any], limits: Limits) -> Batch | None:
    batch = message.get("batch")
    if batch is None:
        return None
    if not isinstance(batch, dict):
        raise ProtocolError(ErrorCode.INVALID_FIELD, "batch must be an object")
    maxlen, interval = batch.get("maxlen", 100), batch.get("interval", 0.005)
    if (
        not isinstance(maxlen, int)
        or isinstance(maxlen, bool)
        or not 1 <= maxlen <= limits.max_batch
    ):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"batch.maxlen must be 1..{limits.max_batch}")
    if (
        not isinstance(interval, int | float)
        or isinstance(interval, bool)
        or not 0 <= interval <= 1
    ):
        raise ProtocolError(ErrorCode.INVALID_FIELD, "batch.interval must be 0..1 seconds")
    return Batch(maxlen, float(interval))


def _publish(message: Mapping[str, Any], known: Collection[str], limits: Limits) -> Publish:
    channel = message.get("channel")
    if not isinstance(channel, str):
        raise ProtocolError(ErrorCode.INVALID_FIELD, "publish needs a channel (string)")
    if channel not in known:
        raise ProtocolError(
            ErrorCode.INVALID_CHANNEL, f"Invalid channels: {channel[:MAX_CHANNEL_LENGTH]}"
        )
    if "events" in message:
        events = message["events"]
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise ProtocolError(ErrorCode.INVALID_FIELD, "events must be a list of objects")
        if len(events) > limits.max_publish_events:
            raise ProtocolError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"at most {limits.max_publish_events} events"
            )
    else:
        data = message.get("data")
        if not isinstance(data, dict):
            raise ProtocolError(ErrorCode.INVALID_FIELD, "publish needs data (object)")
        events = [data]
    timestamp = message.get("timestamp")
    if timestamp is not None and not isinstance(timestamp, str):
        raise ProtocolError(ErrorCode.INVALID_FIELD, "timestamp must be an ISO-8601 string")
    return Publish(channel, tuple(events), timestamp, message.get("id"))


def parse_request(
    raw: str | bytes,
    *,
    channels: Collection[str] = CHANNELS,
    limits: Limits | None = None,
) -> Request:
    """Parse and validate one client frame.

    Args:
        raw: The frame as received; ``bytes`` means a binary frame, which the
            protocol does not use.
        channels: The channels this server serves.
        limits: Request bounds; :class:`Limits` defaults when ``None``.

    Raises:
        ProtocolError: With the :class:`ErrorCode` of the first problem found.
    """
    limits = limits or Limits()
    if isinstance(raw, bytes):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "binary frames are not supported")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "Invalid message format") from None
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "a message must be a JSON object")
    action = message.get("action")
    if not isinstance(action, str):
        raise ProtocolError(ErrorCode.MISSING_ACTION, "a message needs an action (string)")
    request_id = message.get("id")
    if action == Action.SUBSCRIBE:
        names = _channels(message, channels, limits)
        epoch, seq = _resume(message)
        return Subscribe(
            names,
            Filter.compile(message.get("filters"), limits),
            request_id,
            epoch,
            seq,
            _batch(message, limits),
        )
    if action == Action.UNSUBSCRIBE:
        return Unsubscribe(_channels(message, channels, limits), request_id)
    if action == Action.PING:
        return Ping(request_id)
    if action == Action.PUBLISH:
        return _publish(message, channels, limits)
    shown = action[:MAX_CHANNEL_LENGTH]
    raise ProtocolError(ErrorCode.UNKNOWN_ACTION, f"Unknown action: {shown}")


def _with_id(message: dict[str, Any], request_id: object) -> dict[str, Any]:
    if request_id is not None:
        message["id"] = request_id
    return message


def connection_established(
    client_id: str, *, epoch: str, timestamp: str | None = None, extensions: Sequence[str] = ()
) -> bytes:
    """The server's first message; ``epoch`` names this server run's sequence space."""
    return dumps(
        {
            "type": "connection_established",
            "client_id": client_id,
            "timestamp": timestamp or isotime(),
            "epoch": epoch,
            "server": "nexus_nb",
            "extensions": list(extensions),
        }
    )


def subscription_confirmed(
    channels: Sequence[str],
    filters: Mapping[str, Any] | None,
    subscription_id: str,
    request_id: object = None,
) -> bytes:
    """Confirm a subscription; ``filters`` is echoed as sent (omitted when absent, as JS does)."""
    message: dict[str, Any] = {"type": "subscription_confirmed", "channels": list(channels)}
    if filters is not None:
        message["filters"] = filters
    message["subscription_id"] = subscription_id
    return dumps(_with_id(message, request_id))


def subscription_error(error: ProtocolError, request_id: object = None) -> bytes:
    """Refuse a subscription with the reference's ``message`` and our ``code``."""
    return dumps(
        _with_id(
            {"type": "subscription_error", "message": error.message, "code": error.code},
            request_id,
        )
    )


def unsubscription_confirmed(channels: Sequence[str], request_id: object = None) -> bytes:
    """Confirm an unsubscribe."""
    return dumps(
        _with_id({"type": "unsubscription_confirmed", "channels": list(channels)}, request_id)
    )


def error(code: str, message: str, request_id: object = None) -> bytes:
    """A protocol ``error`` message with its stable ``code``."""
    return dumps(_with_id({"type": "error", "message": message, "code": code}, request_id))


def pong(request_id: object = None, timestamp: str | None = None) -> bytes:
    """Answer a ``ping`` action."""
    return dumps(_with_id({"type": "pong", "timestamp": timestamp or isotime()}, request_id))


def event(
    channel: str, data: Mapping[str, Any], *, timestamp: str, seq: int | None = None
) -> bytes:
    """One ``event`` message, as the reference's ``broadcastEvent`` builds it, plus ``seq``."""
    message: dict[str, Any] = {
        "type": "event",
        "channel": channel,
        "timestamp": timestamp,
        "data": data,
    }
    if seq is not None:
        message["seq"] = seq
    return dumps(message)


def event_batch(channel: str, events: Sequence[bytes]) -> bytes:
    """Join encoded ``event`` messages into one ``event_batch`` frame without re-encoding."""
    head = b'{"type":"event_batch","channel":' + orjson.dumps(channel) + b',"events":['
    return head + b",".join(events) + b"]}"


def publish_ack(channel: str, count: int, seq: int, request_id: object = None) -> bytes:
    """Acknowledge a ``publish``: ``count`` events stored, the last one with ``seq``."""
    return dumps(
        _with_id(
            {"type": "publish_ack", "channel": channel, "count": count, "seq": seq}, request_id
        )
    )


def gap(channel: str, *, missed: int, from_seq: int, to_seq: int, reason: str) -> bytes:
    """Tell a client it will never get events ``from_seq``..``to_seq`` (``missed`` of them)."""
    return dumps(
        {
            "type": "gap",
            "channel": channel,
            "missed": missed,
            "from_seq": from_seq,
            "to_seq": to_seq,
            "reason": reason,
        }
    )


def subscribe(
    channels: Sequence[str],
    filters: Mapping[str, Any] | None = None,
    *,
    request_id: object = None,
    resume: tuple[str, Mapping[str, int]] | None = None,
    batch: Batch | None = None,
) -> bytes:
    """Build a ``subscribe`` action as the reference client sends it (``filters`` default {})."""
    message: dict[str, Any] = {
        "action": "subscribe",
        "channels": list(channels),
        "filters": dict(filters or {}),
    }
    if request_id is not None:
        message["id"] = request_id
    if resume is not None:
        message["resume"] = {"epoch": resume[0], "seq": dict(resume[1])}
    if batch is not None:
        message["batch"] = {"maxlen": batch.maxlen, "interval": batch.interval}
    return dumps(message)


def unsubscribe(channels: Sequence[str], *, request_id: object = None) -> bytes:
    """Build an ``unsubscribe`` action."""
    return dumps(_with_id({"action": "unsubscribe", "channels": list(channels)}, request_id))


def ping(*, request_id: object = None) -> bytes:
    """Build a heartbeat ``ping`` action."""
    return dumps(_with_id({"action": "ping"}, request_id))


def publish(
    channel: str,
    events: Sequence[Mapping[str, Any]],
    *,
    timestamp: str | None = None,
    request_id: object = None,
) -> bytes:
    """Build a ``publish`` action (extension) for one or many event payloads."""
    message: dict[str, Any] = {"action": "publish", "channel": channel}
    if len(events) == 1:
        message["data"] = events[0]
    else:
        message["events"] = list(events)
    if timestamp is not None:
        message["timestamp"] = timestamp
    return dumps(_with_id(message, request_id))
