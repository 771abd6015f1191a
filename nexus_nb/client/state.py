"""The client's connection states and its counters."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["ClientStats", "State"]


class State(Enum):
    """Where a :class:`~nexus_nb.client.Client` is in its life.

    ``CONNECTING`` -> ``OPEN`` -> (``RECONNECTING`` -> ``OPEN``)* -> ``CLOSING`` -> ``CLOSED``.
    ``CLOSED`` is final: after an auth refusal, ``max_retries`` failed attempts,
    an unexpected close with ``reconnect=False``, or :meth:`Client.aclose`.
    """

    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(slots=True)
class ClientStats:
    """Counters of one client; :attr:`Client.stats` returns a copy.

    Attributes:
        messages_received: Frames read, of every type.
        events_received: Events delivered (after duplicate removal), batches counted per event.
        channels: Events delivered per channel.
        reconnects: Successful reconnections.
        failed_attempts: Connection attempts that failed while reconnecting.
        dropped: Events dropped by full async-iteration queues (oldest first).
        handoff_dropped: Events of frames the reader thread could not hand to the
            kernel's loop within ``max_handoff`` bytes (``reader="thread"`` only;
            the reader sinks, hence a :class:`~nexus_nb.session.Stream`'s buffers, still got them).
        duplicates: Events dropped because their ``seq`` was already seen in this epoch.
        gaps: ``gap`` messages received (events the server says are lost).
        recovered: Events of those gaps sent back by the server (``recover``); a
            gap reaches the handlers only for what could not be recovered.
        malformed: Frames skipped because they were not a valid message (each is logged).
        handler_errors: Handler or sink calls that raised (each is logged).
        last_error: The last error seen, as text, or ``None``.
        next_retry_at: UNIX time of the next reconnection attempt while reconnecting.
        connected_since: UNIX time the current connection opened, ``None`` when down.
        disconnected_since: UNIX time the connection was lost, ``None`` when up.
    """

    messages_received: int = 0
    events_received: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    failed_attempts: int = 0
    dropped: int = 0
    handoff_dropped: int = 0
    duplicates: int = 0
    gaps: int = 0
    recovered: int = 0
    malformed: int = 0
    handler_errors: int = 0
    last_error: str | None = None
    next_retry_at: float | None = None
    connected_since: float | None = None
    disconnected_since: float | None = None

    def copy(self) -> ClientStats:
        """A snapshot that later traffic does not change."""
        return dataclasses.replace(self, channels=dict(self.channels))
