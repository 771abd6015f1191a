"""The server's counters, as served on ``GET /metrics`` and by ``Server.metrics()``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Counters"]


@dataclass(slots=True)
class Counters:
    """Monotonic counters (except ``active_connections``) of one server run.

    The first four keep the reference server's ``/metrics`` names in
    :meth:`snapshot`; the rest are ours.
    """

    total_connections: int = 0
    active_connections: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    published: dict[str, int] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)
    dropped: int = 0  #: events skipped for clients over their byte bound
    dropped_unreported: int = 0  #: events owed in a ``gap`` to clients that left first
    gaps_sent: int = 0  #: ``gap`` messages sent (overflow and retention)
    recovered: int = 0  #: events sent again from retention for ``recover`` requests
    slow_disconnects: int = 0  #: clients closed with 1013 after ``slow_timeout``
    rate_limited: int = 0  #: RATE_LIMITED errors sent
    rate_limit_disconnects: int = 0  #: clients closed with 1008 for their message rate
    auth_failures: int = 0  #: handshakes closed with 1008 for credentials
    rejected_connections: int = 0  #: handshakes refused with 403 or 503
    protocol_errors: int = 0  #: ``error``/``subscription_error`` replies sent
    keepalive_timeouts: int = 0  #: peers dropped for not answering WebSocket pings
    publish_failures: int = 0  #: publishes a shared log refused or lost
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def for_channels(cls, channels: Iterable[str]) -> Counters:
        """Counters with a zero per-channel entry for each of ``channels``."""
        names = list(channels)
        return cls(published=dict.fromkeys(names, 0), delivered=dict.fromkeys(names, 0))

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy: reference names first, then ours, then per channel."""
        return {
            "totalConnections": self.total_connections,
            "activeConnections": self.active_connections,
            "messagesSent": self.messages_sent,
            "messagesReceived": self.messages_received,
            "uptime": round(time.monotonic() - self.started, 3),
            "dropped": self.dropped,
            "droppedUnreported": self.dropped_unreported,
            "gapsSent": self.gaps_sent,
            "recovered": self.recovered,
            "slowConsumerDisconnects": self.slow_disconnects,
            "rateLimited": self.rate_limited,
            "rateLimitDisconnects": self.rate_limit_disconnects,
            "authFailures": self.auth_failures,
            "rejectedConnections": self.rejected_connections,
            "protocolErrors": self.protocol_errors,
            "keepaliveTimeouts": self.keepalive_timeouts,
            "publishFailures": self.publish_failures,
            "channels": {
                name: {"published": count, "delivered": self.delivered.get(name, 0)}
                for name, count in self.published.items()
            },
        }
