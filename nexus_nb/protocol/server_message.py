"""Server messages as validated values: :func:`parse_server_message` and its result types.

The client-side counterpart of :mod:`nexus_nb.protocol.request`: one frame from
a server becomes a :class:`Greeting`, an :class:`EventFrame`, a :class:`Reply`
or a :class:`Notice`, or raises :class:`~nexus_nb.exceptions.ProtocolError`.
Fields a reference client ignores are left in ``message`` untouched, so a newer
server's additions pass through to handlers.

This is the per-frame hot path of every client: an event frame costs one decode
and a handful of type checks; the events themselves are not copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from nexus_nb.exceptions import ProtocolError, SubscriptionError
from nexus_nb.protocol.columns import EventColumns
from nexus_nb.protocol.spec import ErrorCode

__all__ = [
    "REPLY_TYPES",
    "EventFrame",
    "Greeting",
    "Notice",
    "Reply",
    "ServerMessage",
    "greeting",
    "parse_server_message",
]

#: Message types that answer a client action (one each, in order, on the reference).
REPLY_TYPES: Final = frozenset(
    {
        "subscription_confirmed",
        "subscription_error",
        "unsubscription_confirmed",
        "pong",
        "publish_ack",
        "recovered",
        "error",
    }
)


@dataclass(frozen=True, slots=True)
class Greeting:
    """A ``connection_established`` message.

    Attributes:
        client_id: The id the server gave this connection, if it sent one.
        epoch: The server run's sequence space (our extension), else ``None``.
        echoes_id: Whether the server echoes each request's ``id`` in its reply
            (ours says so with ``server`` or ``extensions``; the reference does not).
        message: The message as decoded.
    """

    client_id: str | None
    epoch: str | None
    echoes_id: bool
    message: dict[str, Any]


# Not frozen, unlike its siblings: one is built per event frame, and a frozen
# dataclass costs about three times as much to construct (object.__setattr__).
@dataclass(slots=True)
class EventFrame:
    """The events of one ``event`` or ``event_batch`` frame, all of one channel.

    Attributes:
        channel: Their channel.
        events: Event messages (one for an ``event`` frame), or the columns of a
            columnar batch as decoded.
    """

    channel: str
    events: list[dict[str, Any]] | EventColumns


@dataclass(frozen=True, slots=True)
class Reply:
    """A message that answers a client action (a type in :data:`REPLY_TYPES`).

    Attributes:
        kind: Its ``type``.
        message: The message as decoded.
        id: The request ``id`` it echoes, or ``None``.
        error: For ``subscription_error`` and ``error``, the refusal as an
            exception (:class:`SubscriptionError` for the former), else ``None``.
    """

    kind: str
    message: dict[str, Any]
    id: object
    error: ProtocolError | None


@dataclass(frozen=True, slots=True)
class Notice:
    """Any other message: ``gap``, or a type this client does not know."""

    kind: str
    message: dict[str, Any]


ServerMessage = Greeting | EventFrame | Reply | Notice


def _invalid(text: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_MESSAGE, text)


def greeting(message: Mapping[str, Any]) -> Greeting:
    """Read a decoded ``connection_established`` message; wrong-typed fields count as absent."""
    client_id, epoch = message.get("client_id"), message.get("epoch")
    extensions = message.get("extensions")
    echoes_id = message.get("server") == "nexus_nb" or (
        isinstance(extensions, list) and "id" in extensions
    )
    return Greeting(
        client_id if isinstance(client_id, str) else None,
        epoch if isinstance(epoch, str) else None,
        echoes_id,
        dict(message),
    )


def _events(message: dict[str, Any], channel: str) -> EventFrame:
    if message.get("format") == "columns":
        try:
            return EventFrame(channel, EventColumns.from_message(message))
        except ValueError as exc:
            raise _invalid(str(exc)) from None
    events = message.get("events")
    # Every element is checked: a non-object in the middle of a batch would
    # otherwise reach the sinks and fail there, once per sink.
    if type(events) is not list or not all(type(e) is dict for e in events):
        raise _invalid("an event_batch needs events (a list of objects)")
    return EventFrame(channel, events)


def _reply(kind: str, message: dict[str, Any]) -> Reply:
    error: ProtocolError | None = None
    if kind in ("subscription_error", "error"):
        code = str(message.get("code") or "ERROR")
        text = str(message.get("message", ""))
        error = (SubscriptionError if kind == "subscription_error" else ProtocolError)(code, text)
    return Reply(kind, message, message.get("id"), error)


def parse_server_message(raw: str | bytes) -> ServerMessage:
    """Parse and check one frame from a server.

    Args:
        raw: The frame as received (text or its UTF-8 bytes).

    Raises:
        ProtocolError: ``INVALID_MESSAGE``: not JSON, not an object, no ``type``
            (string), or an event frame without a channel (string) or with
            malformed events.
    """
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _invalid("not JSON") from None
    if type(message) is not dict:
        raise _invalid("a message must be a JSON object")
    kind = message.get("type")
    if kind == "event" or kind == "event_batch":
        channel = message.get("channel")
        if type(channel) is not str:
            raise _invalid(f"an {kind} needs a channel (string)")
        if kind == "event":
            return EventFrame(channel, [message])
        return _events(message, channel)
    if type(kind) is not str:
        raise _invalid("a message needs a type (string)")
    if kind in REPLY_TYPES:
        return _reply(kind, message)
    if kind == "connection_established":
        return greeting(message)
    return Notice(kind, message)
