"""The exceptions nexus_nb raises, as one tree.

::

    NexusError
    ├── ProtocolError        a message broke the Nexus protocol (carries ``code``)
    │   └── SubscriptionError    the server refused a subscribe or unsubscribe
    ├── AuthError            the server refused the credentials (close code 1008)
    ├── TransportError       the connection could not be opened or was lost
    │   └── ConnectionClosed     the connection is closed; ``code`` and ``reason`` say why
    ├── SchemaError          an event or capture does not fit the expected shape
    └── CaptureError         a capture file could not be written or read

Errors from ``websockets``, ``OSError`` and file libraries are translated at the
edge (``raise TransportError(...) from exc``) so callers catch one family.
``ValueError`` and ``TypeError`` are kept for misuse of arguments.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "CaptureError",
    "ConnectionClosed",
    "NexusError",
    "ProtocolError",
    "SchemaError",
    "SubscriptionError",
    "TransportError",
]


class NexusError(Exception):
    """Base class of every error nexus_nb raises on purpose."""


class ProtocolError(NexusError):
    """A message broke the Nexus protocol.

    Attributes:
        code: The stable error code, one of :class:`nexus_nb.protocol.ErrorCode`
            (a plain ``str`` so errors from newer servers still carry theirs).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SubscriptionError(ProtocolError):
    """The server refused a subscribe or unsubscribe request."""


class AuthError(NexusError):
    """The server refused the credentials (WebSocket close code 1008 or HTTP 401/403)."""


class TransportError(NexusError):
    """The connection could not be opened, or broke."""


class ConnectionClosed(TransportError):
    """The connection is closed.

    Attributes:
        code: The WebSocket close code, or ``None`` when none was received.
        reason: The close reason sent by the peer, possibly empty.
    """

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"connection closed (code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason


class SchemaError(NexusError):
    """An event or a capture does not fit the shape it must have."""


class CaptureError(NexusError):
    """A capture file could not be written or read back."""
