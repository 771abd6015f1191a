"""Client actions as validated values: :func:`parse_request` and its result types."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from nexus_nb.exceptions import ProtocolError
from nexus_nb.protocol.filter import Filter
from nexus_nb.protocol.spec import CHANNELS, MAX_CHANNEL_LENGTH, Action, ErrorCode, Limits

__all__ = [
    "Batch",
    "Ping",
    "Publish",
    "Recover",
    "Request",
    "Subscribe",
    "Unsubscribe",
    "parse_request",
]


@dataclass(frozen=True, slots=True)
class Batch:
    """A client's request for batched delivery: flush after ``maxlen`` events or ``interval`` s.

    ``columns`` asks for columnar frames (``format: "columns"``, see
    :mod:`nexus_nb.protocol.columns`) instead of a list of event messages.
    """

    maxlen: int
    interval: float
    columns: bool = False


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


@dataclass(frozen=True, slots=True)
class Recover:
    """A validated ``recover`` action (extension): send ``from_seq``..``to_seq`` again.

    A client asks it after a ``gap`` with ``reason: "overflow"``, for that gap's
    range; the server answers with the retained events of the range that match
    the client's subscriptions, then one ``recovered`` reply.
    """

    channel: str
    from_seq: int
    to_seq: int
    id: object = None


Request = Subscribe | Unsubscribe | Ping | Publish | Recover

#: The deepest nesting of arrays and objects accepted in a client message. orjson
#: reads up to 1024 levels but writes at most 254, and replies and event frames
#: echo ``id`` and ``data`` inside up to four more levels: a message read fine but
#: too deep to write back would crash its connection's handler (close 1011).
MAX_DEPTH: Final = 128


def too_deep(value: object, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` levels deep.

    Walks level by level, without recursion, so any depth orjson returns is safe.
    """
    depth, level = 0, [value]
    while True:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            return False
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for item in containers
            for child in (item.values() if isinstance(item, dict) else item)
        ]


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
    form = batch.get("format", "events")
    if form not in ("events", "columns"):
        raise ProtocolError(ErrorCode.INVALID_FIELD, 'batch.format must be "events" or "columns"')
    return Batch(maxlen, float(interval), form == "columns")


def _known_channel(message: Mapping[str, Any], action: str, known: Collection[str]) -> str:
    """The request's ``channel``, which must be one of ``known``."""
    channel = message.get("channel")
    if not isinstance(channel, str):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"{action} needs a channel (string)")
    if channel not in known:
        raise ProtocolError(
            ErrorCode.INVALID_CHANNEL, f"Invalid channels: {channel[:MAX_CHANNEL_LENGTH]}"
        )
    return channel


def _publish(message: Mapping[str, Any], known: Collection[str], limits: Limits) -> Publish:
    channel = _known_channel(message, "publish", known)
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


def _recover(message: Mapping[str, Any], known: Collection[str]) -> Recover:
    channel = _known_channel(message, "recover", known)
    first, last = message.get("from_seq"), message.get("to_seq")
    for value in (first, last):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD, "recover needs from_seq and to_seq (integers >= 1)"
            )
    assert isinstance(first, int)  # checked just above
    assert isinstance(last, int)
    if first > last:
        raise ProtocolError(ErrorCode.INVALID_FIELD, "recover needs from_seq <= to_seq")
    return Recover(channel, first, last, message.get("id"))


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
    # Counting brackets is cheap and bounds the depth: walk only when it might be over.
    if raw.count("[") + raw.count("{") > MAX_DEPTH and too_deep(message):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, f"a message must not nest deeper than {MAX_DEPTH} levels"
        )
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
    if action == Action.RECOVER:
        return _recover(message, channels)
    shown = action[:MAX_CHANNEL_LENGTH]
    raise ProtocolError(ErrorCode.UNKNOWN_ACTION, f"Unknown action: {shown}")
