"""The protocol's fixed vocabulary: channels, actions, error codes and request limits."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = ["CHANNELS", "MAX_CHANNEL_LENGTH", "Action", "ErrorCode", "Limits"]

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
    RECOVER = "recover"


class ErrorCode(StrEnum):
    """Stable error codes carried by ``error`` and ``subscription_error`` messages."""

    INVALID_MESSAGE = "INVALID_MESSAGE"  #: not JSON, not an object, too deep, or binary
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
        max_recover: Events sent back for one ``recover``; its ``recovered`` reply
            says where it stopped, and the client asks again for the rest.
    """

    max_channels: int = 64
    max_filter_keys: int = 32
    max_filter_values: int = 256
    max_filter_value_length: int = 256
    max_publish_events: int = 10_000
    max_batch: int = 1_000
    max_recover: int = 5_000
