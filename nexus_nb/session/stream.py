"""A live stream in a notebook: one client wired to one ring buffer per channel.

This is the only module that knows the client, the buffers and the views
together. The client hands every frame to :meth:`Stream._sink` (a list of event
messages per frame, or the columns of a columnar batch as decoded); the stream
parks them in a bounded pending queue and drains it into the buffers once per
event-loop iteration, so single-event frames get the batch path's per-event cost
too, and columnar batches reach the buffers' columns without a dict per event.

Pending queue policy (``max_pending`` events, default 50,000): when a frame would
overflow it, the queue is drained into the buffers at once, inside the reader, so
nothing is dropped; the reader then reads more slowly, which pushes back through
TCP to the server, whose own per-client bound turns into a counted ``gap``
message that is recorded here as a gap marker. ``stats.inline_drains`` counts it.

With a client that reads on its own thread (``nnb.connect(url, reader="thread")``,
see :mod:`nexus_nb.client.reader`), frames keep arriving while a cell blocks the
kernel's loop, and the pending queue is the hand-off between the two threads:
the reader thread appends each frame to it under the stream's lock, bounded by
``max_size`` bytes (frame sizes on the wire; past it a frame is dropped, counted
in ``stats.lost`` and marked as a gap in its buffer). The reader thread also
flattens each run of 256 staged messages into a column block
(:func:`~nexus_nb.columnar.flattened`; not while a :meth:`Stream.record` recording
needs the messages), so their dicts do not age in the queue. The buffers themselves
are only ever touched by the kernel's thread: the queue is swapped out under the
lock and stored either by a drain scheduled on the kernel's loop (at most every
5 ms) or, while that loop is blocked, by the next read of any buffer from the cell
(:meth:`RingBuffer.feed_from <nexus_nb.buffer.RingBuffer.feed_from>`), so a
read always sees a consistent buffer that holds every frame received before it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson

from nexus_nb.buffer import RingBuffer
from nexus_nb.capture import Recorder
from nexus_nb.client import Client, Events, State
from nexus_nb.client.credential import api_key_from_env
from nexus_nb.client.reader import MAX_HANDOFF
from nexus_nb.columnar import Block, flattened
from nexus_nb.thread import awaited, plain_or_awaitable
from nexus_nb.protocol import EventColumns
from nexus_nb.session.recording import Recording
from nexus_nb.widgets import ChannelStatus, StatusSnapshot

__all__ = ["Stream", "StreamStats", "connect"]

log = logging.getLogger("nexus_nb.session")

#: Rows a reader thread stages as messages before it flattens them (see ``_reader_sink``).
_FLATTEN_AT = 256
#: Seconds between the drains a reader thread asks of the kernel's loop.
_DRAIN_EVERY = 0.005


@dataclass
class StreamStats:
    """Counters of the pending queue between the socket reader and the buffers."""

    frames: int = 0
    events: int = 0
    drains: int = 0
    inline_drains: int = 0
    gaps: int = 0
    lost: int = 0
    """Events dropped because the reader thread's hand-off was over ``max_size`` bytes."""
    record_errors: int = 0
    """Writes of a :meth:`Stream.record` recording that raised (logged; the buffers go on)."""


class Stream:
    """A connected client and a bounded :class:`~nexus_nb.buffer.RingBuffer` per channel.

    Create one with :func:`connect`. ``stream["telemetry.metrics"]`` is that
    channel's buffer; ``await stream.subscribe([...])`` creates the buffers and
    returns once the server confirmed.

    Args:
        client: A started client; with ``reader="thread"`` the stream must be
            made on the loop the client was started on.
        maxlen: Rows kept per channel buffer.
        window: Event-time window per buffer.
        max_pending: Events parked for the buffers (``reader="loop"`` clients).
        max_size: Bytes of frames parked for the buffers (``reader="thread"``
            clients): the bound of the hand-off between the threads.
    """

    def __init__(
        self,
        client: Client,
        *,
        maxlen: int = 100_000,
        window: str | float | None = None,
        max_pending: int = 50_000,
        max_size: int = MAX_HANDOFF,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if max_size < 1:
            raise ValueError("max_size must be at least 1 byte")
        self.client = client
        self.maxlen = maxlen
        self.window = window
        self.max_pending = max_pending
        self.max_size = max_size
        self.stats = StreamStats()
        self._buffers: dict[str, RingBuffer] = {}
        # channel -> frames in arrival order: runs of messages joined, batches as they came.
        self._pending: dict[str, list[list[dict[str, Any]] | EventColumns | Block]] = {}
        self._pending_count = 0
        self._drain_handle: asyncio.Handle | None = None
        self._waiters: list[tuple[str, int, asyncio.Future[None]]] = []
        self._rates: dict[str, tuple[float, int, float]] = {}
        self._missed: dict[str, int] = {}
        # The hand-off with a reader thread: _pending, _pending_* and _lost are
        # shared with it, under _lock; the buffers belong to the creating thread.
        self._threaded = client.reader == "thread"
        self._lock = threading.Lock()
        self._owner = threading.get_ident()
        self._pending_bytes = 0
        self._lost: dict[str, list[int]] = {}  # channel -> [missed, first ns, last ns]
        self._draining = False
        self._drained_at = 0.0
        self._arrived = threading.Event()
        self._plain_waits = 0
        self._recorders: list[Callable[[str, list[dict[str, Any]] | EventColumns], None]] = []
        self._recording = 0  # recordings open, shared with the reader thread
        self._fields: dict[str, list[str]] = {}  # the reader thread's own: columns last flattened
        if self._threaded:
            self._loop = asyncio.get_running_loop()
            feed = client.add_reader_sink(self._reader_sink)
        else:
            feed = client.add_column_sink(self._sink)
        self._detach = [
            feed,
            client.on("gap", self._on_gap),
            client.on("reconnected", self._on_reconnected),
        ]

    # -- buffers ---------------------------------------------------------------------------

    def __getitem__(self, channel: str) -> RingBuffer:
        """The buffer of ``channel``; it exists once the channel was subscribed.

        Raises:
            KeyError: The channel was never subscribed on this stream.
        """
        try:
            return self._buffers[channel]
        except KeyError:
            raise KeyError(
                f"{channel!r} is not buffered; await stream.subscribe([{channel!r}]) first"
            ) from None

    def __contains__(self, channel: object) -> bool:
        return channel in self._buffers

    @property
    def channels(self) -> list[str]:
        """The buffered channels, in subscription order."""
        return list(self._buffers)

    def buffer(self, channel: str) -> RingBuffer:
        """The buffer of ``channel``, created empty if it does not exist yet."""
        if channel not in self._buffers:
            buffer = RingBuffer(channel, maxlen=self.maxlen, window=self.window)
            if self._threaded:
                buffer.feed_from(self._pull)
            self._buffers[channel] = buffer
        return self._buffers[channel]

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(
        self,
        channels: str | Sequence[str],
        filters: Mapping[str, Any] | None = None,
        *,
        batch: int | None = None,
    ) -> Coroutine[Any, Any, dict[str, Any]]:
        """Subscribe and buffer ``channels``; returns the server's confirmation.

        ``await`` it, or call it plainly at the top of a cell (a stream made by
        a plain :func:`connect`): that blocks until the server confirmed.

        Args:
            channels: Channel names (a single string is one channel).
            filters: The reference's filters: ``{key: value or [values]}``.
            batch: Ask for batches of up to this many events, in columnar form:
                the fastest way into the buffers at high rates (servers without
                the extension, such as the reference, ignore it).

        Raises:
            SubscriptionError: The server refused (unknown channel, bad filter...).
        """
        names = [channels] if isinstance(channels, str) else list(channels)
        for name in names:
            self.buffer(name)
        work = self.client.subscribe(names, filters, batch=batch, columns=batch is not None)
        return plain_or_awaitable(work, awaited(), self.client.block_on)

    def unsubscribe(self, channels: str | Sequence[str]) -> Coroutine[Any, Any, dict[str, Any]]:
        """Stop receiving ``channels``; their buffers keep what they hold (awaited or plain)."""
        names = [channels] if isinstance(channels, str) else list(channels)
        return plain_or_awaitable(self.client.unsubscribe(names), awaited(), self.client.block_on)

    def resubscribe(
        self, selection: Mapping[str, Mapping[str, Any] | None]
    ) -> Coroutine[Any, Any, None]:
        """Make the live subscriptions equal ``selection`` ({channel: filters or None}).

        Channels left out are unsubscribed; channels whose filters change are
        unsubscribed first (so old filters do not linger) and subscribed again;
        channels already subscribed with exactly these filters are not touched, so
        they miss no event. At most one ``unsubscribe`` and one ``subscribe`` per
        distinct filter set are sent. Awaited or plain, as :meth:`subscribe`.
        """
        return plain_or_awaitable(
            self._resubscribe(self._resubscription(selection)), awaited(), self.client.block_on
        )

    def _resubscription(
        self, selection: Mapping[str, Mapping[str, Any] | None]
    ) -> tuple[list[str], list[tuple[list[str], Any]]]:
        """What :meth:`resubscribe` sends: the channels to drop, then (channels, filters) to add."""
        current = self.client.subscriptions
        wanted = {ch: _canonical(filters) for ch, filters in selection.items()}
        stale = sorted(
            ch
            for ch, filters in current.items()
            if ch not in wanted or [_canonical(f) for f in filters] != [wanted[ch]]
        )
        groups: dict[bytes, list[str]] = {}
        for channel, key in wanted.items():
            if channel in stale or channel not in current:
                groups.setdefault(key, []).append(channel)
                self.buffer(channel)
        return stale, [(channels, orjson.loads(key) or None) for key, channels in groups.items()]

    async def _resubscribe(self, plan: tuple[list[str], list[tuple[list[str], Any]]]) -> None:
        stale, additions = plan
        if stale:
            await self.client.unsubscribe(stale)
        for channels, filters in additions:
            await self.client.subscribe(channels, filters)

    # -- waiting and recording -------------------------------------------------------------

    def wait_for(
        self,
        channel: str,
        *,
        rows: int = 1,
        timeout: float = 10.0,
    ) -> Coroutine[Any, Any, RingBuffer]:
        """Wait until ``channel``'s buffer holds at least ``rows`` rows; returns the buffer.

        ``await`` it, or call it plainly at the top of a cell (a stream made by
        a plain :func:`connect`): that blocks the cell while the reader thread
        keeps filling the buffers.

        Raises:
            TimeoutError: Not enough rows arrived within ``timeout`` seconds.
        """
        buffer = self.buffer(channel)
        if awaited():
            return self._wait_async(buffer, rows, timeout)
        return cast("Coroutine[Any, Any, RingBuffer]", self._wait_plain(buffer, rows, timeout))

    async def _wait_async(
        self,
        buffer: RingBuffer,
        rows: int,
        timeout: float,  # noqa: ASYNC109 - a bounded wait is what notebooks need
    ) -> RingBuffer:
        if len(buffer) >= rows:
            return buffer
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (buffer.channel, rows, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{buffer.channel}: {len(buffer)} of {rows} rows after {timeout} s"
            ) from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)
        return buffer

    def _wait_plain(self, buffer: RingBuffer, rows: int, timeout: float) -> RingBuffer:
        if not self._threaded:
            raise RuntimeError(
                "this stream reads on the kernel's loop (made with await nnb.connect): "
                "await stream.wait_for(...), or connect with a plain call"
            )
        deadline = time.monotonic() + timeout
        self._plain_waits += 1
        try:
            while True:
                self._arrived.clear()
                self.flush()
                if len(buffer) >= rows:
                    return buffer
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{buffer.channel}: {len(buffer)} of {rows} rows after {timeout} s"
                    )
                self._arrived.wait(left)
        finally:
            self._plain_waits -= 1

    def record(
        self,
        path: str | os.PathLike[str],
        *,
        channels: Iterable[str] | None = None,
        row_group_size: int = 10_000,
    ) -> Recording:
        """Start writing every event of ``channels`` (default: all) to ``path``.

        The format follows the suffix: ``.parquet`` (row groups of
        ``row_group_size``), ``.csv`` or ``.jsonl``.
        """
        wanted = None if channels is None else frozenset(channels)
        recorder = Recorder(path, row_group_size=row_group_size)

        def write(channel: str, events: list[dict[str, Any]] | EventColumns) -> None:
            if wanted is None or channel in wanted:
                recorder.write_many(events)

        # Written as the buffers are filled, on this thread and in their order, so
        # the recording gets whatever the buffers get, a busy cell included. A
        # recorder needs the messages: a reader thread stops flattening them first.
        with self._lock:
            self._recording += 1
        self.flush()
        self._recorders.append(write)

        def detach() -> None:
            self.flush()
            self._recorders.remove(write)
            with self._lock:
                self._recording -= 1

        return Recording(recorder, detach)

    # -- the pending queue -----------------------------------------------------------------

    def _sink(self, channel: str, events: Events) -> None:
        count = len(events)
        self.stats.frames += 1
        self.stats.events += count
        if self._pending_count + count > self.max_pending:
            self.stats.inline_drains += 1
            self._drain()
        self._stage(channel, events)
        if self._drain_handle is None:
            self._drain_handle = asyncio.get_running_loop().call_soon(self._drain)

    def _stage(
        self, channel: str, events: Events
    ) -> list[list[dict[str, Any]] | EventColumns | Block]:
        """Queue a frame's events for the next drain (row lists merge, batches stay whole).

        Returns the channel's staged parts, the frame's own last.
        """
        parts = self._pending.get(channel)
        if parts is None:
            parts = self._pending[channel] = []
        if isinstance(events, EventColumns):
            parts.append(events)
        elif parts and type(parts[-1]) is list:
            parts[-1].extend(events)
        else:
            parts.append(list(events))
        self._pending_count += len(events)
        return parts

    def _reader_sink(self, channel: str, events: Events, size: int) -> None:
        # On the reader thread: stage the frame, touch no buffer.
        count = len(events)
        with self._lock:
            if self._pending_bytes + size > self.max_size:
                now = time.time_ns()
                lost = self._lost.get(channel)
                if lost is None:
                    self._lost[channel] = [count, now, now]
                else:
                    lost[0] += count
                    lost[2] = now
            else:
                self.stats.frames += 1
                self.stats.events += count
                self._pending_bytes += size
                parts = self._stage(channel, events)
                last = parts[-1]
                if type(last) is list and len(last) >= _FLATTEN_AT and not self._recording:
                    block = flattened(last, expected=self._fields.get(channel, ()))
                    self._fields[channel] = list(block.columns)
                    parts[-1] = block
            if self._plain_waits:
                self._arrived.set()
            if self._drain_handle is not None:
                return
            self._drain_handle = self._loop.call_soon_threadsafe(self._drain_due)

    def _drain_due(self) -> None:
        # Woken by the reader thread: drain now, or once _DRAIN_EVERY has passed
        # since the last drain. Reads need no drain (they pull), so this costs no
        # freshness, and it saves the two threads a GIL hand-off per frame.
        wait = self._drained_at + _DRAIN_EVERY - time.monotonic()
        if wait <= 0:
            self._drain()
            return
        with self._lock:
            self._drain_handle = self._loop.call_later(wait, self._drain)

    def _pull(self) -> None:
        # Before every read of a buffer: on the owning thread, store what the reader staged.
        if (self._pending_count or self._lost) and threading.get_ident() == self._owner:
            self._drain()

    def _drain(self) -> None:
        if self._draining:
            return  # a buffer read inside the drain below
        with self._lock:
            self._drain_handle = None
            if not self._pending_count and not self._lost:
                return
            pending, self._pending, self._pending_count = self._pending, {}, 0
            lost, self._lost, self._pending_bytes = self._lost, {}, 0
        self._draining = True
        self._drained_at = time.monotonic()
        try:
            self._store(pending, lost)
        finally:
            self._draining = False

    def _store(
        self,
        pending: dict[str, list[list[dict[str, Any]] | EventColumns | Block]],
        lost: dict[str, list[int]],
    ) -> None:
        self.stats.drains += 1
        recorders = self._recorders  # while one is open, no part is a Block (see record())
        for channel, parts in pending.items():
            buffer = self.buffer(channel)
            for part in parts:
                buffer.extend(part)
                for write in recorders:
                    try:
                        write(channel, cast(list[dict[str, Any]] | EventColumns, part))
                    except Exception:
                        # Like a failing sink: counted and logged; the buffers go on.
                        self.stats.record_errors += 1
                        log.exception("nexus_nb stream: a recording of %s failed", channel)
        for channel, (missed, first, last) in lost.items():
            self.stats.gaps += 1
            self.stats.lost += missed
            self._missed[channel] = self._missed.get(channel, 0) + missed
            self.buffer(channel).mark_gap(
                first, last, missed=missed, reason=f"client: reader hand-off over {self.max_size} B"
            )
        if self._waiters:
            for channel, rows, future in list(self._waiters):
                if not future.done() and len(self.buffer(channel)) >= rows:
                    future.set_result(None)

    def flush(self) -> None:
        """Move every event received so far into the buffers now."""
        self._drain()

    def _on_gap(self, message: Mapping[str, Any]) -> None:
        if message.get("source") == "client":
            # Lost only to the client's own listeners: the buffers were fed on the reader thread.
            return
        channel = message.get("channel")
        if isinstance(channel, str) and channel in self._buffers:
            now = time.time_ns()
            missed = int(message.get("missed", 0))
            self.stats.gaps += 1
            self._missed[channel] = self._missed.get(channel, 0) + missed
            self.flush()
            self._buffers[channel].mark_gap(
                now, now, missed=missed, reason=f"server: {message.get('reason')}"
            )

    def _on_reconnected(self, message: Mapping[str, Any]) -> None:
        self.flush()
        start = int(float(message["down_since"]) * 1e9)
        end = int(float(message["up_at"]) * 1e9)
        if message.get("epoch_changed"):
            reason, missed = "reconnect: server restarted (events sent meanwhile are lost)", None
        elif message.get("resumed"):
            reason, missed = "reconnect: resumed, nothing lost", 0
        else:
            reason, missed = "reconnect: not resumed", None
        for buffer in self._buffers.values():
            buffer.mark_gap(start, end, missed=missed, reason=reason)
        self.stats.gaps += 1

    # -- status ----------------------------------------------------------------------------

    def status(self) -> StatusSnapshot:
        """A snapshot of connection and buffers for :class:`~nexus_nb.widgets.StatusBar`."""
        client = self.client
        stats = client.stats
        now = time.monotonic()
        channels = {
            name: ChannelStatus(
                rate=self._rate(name, buffer.appended, now),
                rows=len(buffer),
                dropped=self._missed.get(name, 0),
                overflowed=buffer.evicted,
            )
            for name, buffer in self._buffers.items()
        }
        retry_in = None
        if client.state is State.RECONNECTING and stats.next_retry_at is not None:
            retry_in = max(0.0, stats.next_retry_at - time.time())
        error = client.error
        return StatusSnapshot(
            state=client.state.value,
            detail=client.url if client.state is State.CONNECTING else str(error or ""),
            channels=channels,
            reconnects=stats.reconnects,
            last_error=stats.last_error,
            retry_in=retry_in,
        )

    def _rate(self, channel: str, appended: int, now: float) -> float:
        # An exponentially smoothed rate between successive status() calls.
        last_t, last_n, rate = self._rates.get(channel, (now, appended, 0.0))
        dt = now - last_t
        if dt > 0:
            rate = 0.5 * rate + 0.5 * (appended - last_n) / dt
        self._rates[channel] = (now, appended, rate)
        return rate

    # -- lifecycle -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection; every event received before is in the buffers after."""
        await self.client.aclose()
        self._detach_all()

    def close(self) -> None:
        """:meth:`aclose` as a plain call, for a stream made by a plain :func:`connect`.

        Raises:
            RuntimeError: The stream reads on the kernel's loop (made with
                ``await nnb.connect``): ``await stream.aclose()`` instead.
        """
        self.client.close()
        self._detach_all()

    def _detach_all(self) -> None:
        self.flush()
        for detach in self._detach:
            detach()
        self._detach = []

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def state(self) -> State:
        """The client's connection state."""
        return self.client.state

    def __repr__(self) -> str:
        rows = sum(len(b) for b in self._buffers.values())
        return (
            f"<Stream {self.client.url} {self.client.state.name.lower()} "
            f"channels={len(self._buffers)} rows={rows}>"
        )


def connect(
    url: str,
    *,
    api_key: str | None = None,
    maxlen: int = 100_000,
    window: str | float | None = None,
    max_pending: int = 50_000,
    max_size: int = MAX_HANDOFF,
    **client_options: Any,
) -> Coroutine[Any, Any, Stream]:
    """Connect to a Nexus server and return a :class:`Stream` that buffers what it receives.

    Two ways to call it:

    * ``stream = nnb.connect(url)``, a plain call at the top of a notebook cell:
      blocks until connected and returns the stream. Its client reads on a
      thread of its own (``reader="thread"``), so a busy cell loses nothing, and
      the stream's other calls (``subscribe``, ``wait_for``, ``close``...) are
      plain calls too.
    * ``stream = await nnb.connect(url)``, in async code: the client runs on
      the caller's loop unless ``reader="thread"`` is passed.

    Args:
        url: ``ws://`` or ``wss://`` address of the server.
        api_key: Bearer key (default: the ``NEXUS_API_KEY`` environment variable).
        maxlen: Rows kept per channel buffer (oldest evicted first).
        window: Optional event-time window per buffer (``"10min"`` or seconds).
        max_pending: Events parked between the socket reader and the buffers.
        max_size: With ``reader="thread"``: bytes of frames parked between the
            reader thread and the buffers (past it, counted and marked as a gap).
        **client_options: Passed to :class:`nexus_nb.client.Client` (reconnect,
            backoff, heartbeat, ssl, reader...).

    Raises:
        AuthError: The server refused the key.
        TransportError: The server could not be reached.
    """
    key = api_key_from_env(api_key)
    options: dict[str, Any] = {
        "maxlen": maxlen,
        "window": window,
        "max_pending": max_pending,
        "max_size": max_size,
    }
    if awaited():
        return _connect(url, key, options, client_options)
    client = Client(url, api_key=key, **{"reader": "thread", **client_options})
    # The stream's sinks go on before the first frame can arrive: a reader
    # thread would otherwise receive frames that no buffer gets.
    stream = Stream(client, **options)
    client.open()
    return cast("Coroutine[Any, Any, Stream]", stream)


async def _connect(
    url: str, key: str | None, options: dict[str, Any], client_options: dict[str, Any]
) -> Stream:
    client = Client(url, api_key=key, **client_options)
    stream = Stream(client, **options)
    await client.start()
    return stream


def _canonical(filters: Mapping[str, Any] | None) -> bytes:
    """``filters`` as sorted JSON, a value and a one-value list alike (the server's reading)."""
    items = {k: v if isinstance(v, list | tuple) else [v] for k, v in (filters or {}).items()}
    return orjson.dumps(items, option=orjson.OPT_SORT_KEYS)
