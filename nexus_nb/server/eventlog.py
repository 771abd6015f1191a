"""The event log: per-channel sequence numbers and bounded retention for resume.

The server's publish path is two separate steps, and this module is the first:

1. :meth:`EventLog.submit` assigns each event the channel's next ``seq`` and
   encodes its message once (the bytes every subscriber receives).
2. The log hands each stored entry to the ``deliver`` callback the server gave
   :meth:`EventLog.start` (``Fanout.deliver``: the local subscribers).

:class:`MemoryEventLog` does both in the ``submit`` call and returns a future that
is already resolved. A log shared by several server instances (Redis Streams,
``redis_log``) cannot assign ``seq`` synchronously: its ``submit`` queues the
events, its future resolves once they are stored, and it delivers every entry it
reads back (from any instance, this one included). ``since`` serves ``resume`` in
both: the entries after a client's last ``seq``; for ``resume`` to stay exact the
log must make an entry visible to ``since`` no later than it calls ``deliver``
with it, in the same loop step.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from nexus_nb import protocol

__all__ = ["Entry", "EventLog", "MemoryEventLog", "Missed"]


class Entry(NamedTuple):
    """One logged event: its ``seq``, payload and encoded ``event`` message."""

    channel: str
    seq: int
    timestamp: str
    data: Mapping[str, Any]
    payload: bytes


@dataclass(frozen=True, slots=True)
class Missed:
    """Events a reader can no longer get: ``count`` of them, ``from_seq``..``to_seq``."""

    count: int
    from_seq: int
    to_seq: int


class EventLog(Protocol):
    """Where events get their ``seq`` and stay retained for ``resume``.

    One asynchronous interface for the in-memory log and a log several server
    instances share (Redis Streams): :meth:`submit` returns a future of the last
    ``seq``, which the in-memory log resolves before returning (an ``await`` on
    it never suspends) and a shared log resolves once its store has assigned
    it. :meth:`submit_nowait` is the same write for a caller that does not wait
    (``Server.publish``), as ``put_nowait`` is for ``asyncio.Queue``: it makes no
    future, which is most of the cost of an in-memory publish. Either log hands
    every stored entry to the ``deliver`` callback given to :meth:`start`; a
    shared log does so for entries any instance stored.
    """

    @property
    def epoch(self) -> str:
        """The random id of this log's sequence space (known once :meth:`start` returned)."""
        ...

    async def start(
        self,
        deliver: Callable[[Entry], object],
        on_epoch: Callable[[str], object],
        on_gap: Callable[[str, Missed], object],
    ) -> None:
        """Open the log; from now on call ``deliver`` with every entry, in ``seq`` order.

        ``on_epoch`` is called with the new epoch when the sequence space restarts;
        ``on_gap(channel, missed)`` when entries left the log before this instance
        read them, so its clients will never get them.

        Raises:
            TransportError: A shared log's store cannot be reached.
        """
        ...

    def submit(
        self, channel: str, events: Sequence[Mapping[str, Any]], timestamp: str
    ) -> asyncio.Future[int]:
        """Store events (or queue them for storing); the future gives the last one's ``seq``.

        Raises:
            TypeError: An event is not JSON-serialisable.
            TransportError: A shared log refuses more events (closed, or its
                write queue is full); its future fails with ``TransportError``
                when the store was lost while writing.
        """
        ...

    def submit_nowait(
        self,
        channel: str,
        events: Sequence[Mapping[str, Any]],
        timestamp: str,
        on_error: Callable[[BaseException], object],
    ) -> int:
        """:meth:`submit` for a caller that will not wait: no future is made.

        Returns:
            The last ``seq`` when the events were stored in the call (the
            in-memory log), else 0; ``on_error(exc)`` is then called if storing
            them fails later.

        Raises:
            TypeError: As :meth:`submit`.
            TransportError: As :meth:`submit`.
        """
        ...

    def since(self, channel: str, seq: int) -> tuple[list[Entry], Missed | None]:
        """The retained entries with ``seq`` greater than ``seq``, oldest first.

        Returns:
            The entries, and what was evicted after ``seq`` (``None`` when nothing).
        """
        ...

    def last_seq(self, channel: str) -> int:
        """The newest ``seq`` on ``channel`` (0 before the first event)."""
        ...

    def metrics(self) -> dict[str, Any]:
        """The log's own counters, served under ``log`` in ``/metrics``."""
        ...

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the log can serve, and what it adds to the ``/healthz`` body."""
        ...

    async def aclose(self) -> None:
        """Close the log; pending ``submit`` futures fail."""
        ...


def _never(exc: BaseException) -> None:
    """The ``on_error`` of writes that cannot fail after the call."""


class MemoryEventLog:
    """An in-memory :class:`EventLog` bounded per channel by rows and, optionally, bytes and age.

    :meth:`submit` stores and delivers in the call and returns a resolved future;
    :meth:`append` is the storing step alone (no delivery), for code that frames
    entries itself.

    Args:
        channels: The channels it accepts.
        retention: Entries kept per channel (default 10 000); older ones are evicted
            and counted in ``evicted``.
        retention_seconds: When set, entries older than this are evicted too
            (checked on ``append`` and ``since``).
        retention_bytes: When set, the oldest entries are evicted while a
            channel's encoded events add up to more than this many bytes.
        epoch: The sequence-space id; random when ``None``.

    Raises:
        ValueError: When ``retention`` < 1, or ``retention_seconds`` or
            ``retention_bytes`` is not positive.
    """

    def __init__(
        self,
        channels: Collection[str],
        *,
        retention: int = 10_000,
        retention_seconds: float | None = None,
        retention_bytes: int | None = None,
        epoch: str | None = None,
    ) -> None:
        if retention < 1:
            raise ValueError("retention must be >= 1")
        if retention_seconds is not None and retention_seconds <= 0:
            raise ValueError("retention_seconds must be > 0")
        if retention_bytes is not None and retention_bytes < 1:
            raise ValueError("retention_bytes must be >= 1")
        self._epoch = epoch or secrets.token_hex(8)
        self._retention_seconds = retention_seconds
        self._retention_bytes = retention_bytes
        self._bytes: dict[str, int] = dict.fromkeys(channels, 0)
        self._rows: dict[str, deque[tuple[float, Entry]]] = {
            c: deque(maxlen=retention) for c in channels
        }
        self._last: dict[str, int] = dict.fromkeys(channels, 0)
        self._deliver: Callable[[Entry], object] = lambda entry: None
        self.evicted = 0

    @property
    def epoch(self) -> str:
        """The random id of this log's sequence space."""
        return self._epoch

    async def start(
        self,
        deliver: Callable[[Entry], object],
        on_epoch: Callable[[str], object],
        on_gap: Callable[[str, Missed], object],
    ) -> None:
        """Deliver every entry :meth:`submit` stores from now on.

        ``on_epoch`` and ``on_gap`` are never called: this log's epoch never
        changes and no entry leaves it before it was delivered.
        """
        self._deliver = deliver

    def submit(
        self, channel: str, events: Sequence[Mapping[str, Any]], timestamp: str
    ) -> asyncio.Future[int]:
        """Store and deliver ``events`` now; the returned future is already resolved.

        Needs a running loop (the future's). Returns the last ``seq`` (0 for no events).

        Raises:
            KeyError: ``channel`` was not given at construction.
            TypeError: An event is not JSON-serialisable (the events before it
                were stored and delivered).
        """
        stored: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        stored.set_result(self.submit_nowait(channel, events, timestamp, _never))
        return stored

    def submit_nowait(
        self,
        channel: str,
        events: Sequence[Mapping[str, Any]],
        timestamp: str,
        on_error: Callable[[BaseException], object],
    ) -> int:
        """Store and deliver ``events`` now; return the last ``seq`` (0 for no events).

        ``on_error`` is never called: nothing is left to fail after the call.

        Raises:
            KeyError: As :meth:`submit`.
            TypeError: As :meth:`submit`.
        """
        seq = 0
        for data in events:
            entry = self.append(channel, data, timestamp)
            self._deliver(entry)
            seq = entry.seq
        return seq

    def append(self, channel: str, data: Mapping[str, Any], timestamp: str) -> Entry:
        """Store one event; ``channel`` must be one given at construction (KeyError)."""
        rows = self._rows[channel]
        seq = self._last[channel] + 1
        # Encode before taking the seq, so an unserialisable payload leaves no hole.
        # Copied: orjson's result keeps a 4 KiB allocation behind a ~300-byte
        # frame, so a retained entry would cost 12x its size (bench_busy).
        payload = bytes(memoryview(protocol.event(channel, data, timestamp=timestamp, seq=seq)))
        self._last[channel] = seq
        entry = Entry(channel, seq, timestamp, data, payload)
        if len(rows) == rows.maxlen:
            self.evicted += 1
            self._bytes[channel] -= len(rows[0][1].payload)
        now = time.monotonic()
        rows.append((now, entry))
        held = self._bytes[channel] = self._bytes[channel] + len(payload)
        limit = self._retention_bytes
        if limit is not None and held > limit:
            while len(rows) > 1 and self._bytes[channel] > limit:
                self._evict(rows)
        if self._retention_seconds is not None:
            self._expire(rows, now)
        return entry

    def _evict(self, rows: deque[tuple[float, Entry]]) -> None:
        entry = rows.popleft()[1]
        self._bytes[entry.channel] -= len(entry.payload)
        self.evicted += 1

    def since(self, channel: str, seq: int) -> tuple[list[Entry], Missed | None]:
        """The retained entries after ``seq`` and what was evicted after it."""
        rows = self._rows[channel]
        if self._retention_seconds is not None:
            self._expire(rows, time.monotonic())
        last = self._last[channel]
        if seq >= last:
            return [], None
        first = rows[0][1].seq if rows else last + 1
        missed = Missed(first - seq - 1, seq + 1, first - 1) if seq + 1 < first else None
        start = max(0, seq + 1 - first)
        return [rows[i][1] for i in range(start, len(rows))], missed

    def last_seq(self, channel: str) -> int:
        """The newest ``seq`` on ``channel``."""
        return self._last[channel]

    def metrics(self) -> dict[str, Any]:
        """``evicted``: entries dropped by retention so far; ``retained_bytes``: held now."""
        return {"evicted": self.evicted, "retained_bytes": sum(self._bytes.values())}

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Always healthy; nothing to add to ``/healthz``."""
        return True, {}

    async def aclose(self) -> None:
        """Nothing to release: the entries stay readable through :meth:`since`."""

    def _expire(self, rows: deque[tuple[float, Entry]], now: float) -> None:
        assert self._retention_seconds is not None
        horizon = now - self._retention_seconds
        while rows and rows[0][0] < horizon:
            self._evict(rows)
