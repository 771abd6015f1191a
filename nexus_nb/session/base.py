"""What :class:`Stream` and :class:`AsyncStream` share: a client on its reader thread, its buffers.

Both kinds read the socket on a thread the stream owns (the client's
``reader="thread"``), and that thread stores every frame in the buffers as it
arrives (:mod:`nexus_nb.session.feed`): a cell that computes, plain or
``await``-ed, loses nothing. They differ only in how their requests are called:
:class:`~nexus_nb.session.stream.Stream`'s block the caller until the server
answered, :class:`~nexus_nb.session.asyncstream.AsyncStream`'s are coroutines.
Either way the request itself runs on the reader thread (its one owner).

A stream the notebook no longer references is closed (``weakref.finalize``):
the reader thread holds the :class:`~nexus_nb.session.feed.Feed`, never the
stream, so re-running ``stream = nnb.connect(...)`` closes the previous
connection once the old stream is garbage, and the interpreter's exit closes
whatever is left.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
import weakref
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import Any

import orjson

from nexus_nb.buffer import RingBuffer
from nexus_nb.capture import Recorder
from nexus_nb.client import Client, Events, State
from nexus_nb.session.feed import Feed, StreamStats
from nexus_nb.session.recording import Recording
from nexus_nb.widgets import ChannelStatus, StatusSnapshot

__all__ = ["BaseStream", "Plan"]

#: Seconds a finalizer waits for an abandoned stream's connection to close.
CLOSE_WAIT = 2.0

#: What :meth:`BaseStream.resubscribe` sends: channels to drop, then (channels, filters) to add.
Plan = tuple[list[str], list[tuple[list[str], Any]]]


class BaseStream:
    """A connected client and a bounded :class:`~nexus_nb.buffer.RingBuffer` per channel.

    Not built directly: :func:`nexus_nb.connect` makes a :class:`Stream`,
    :func:`nexus_nb.aconnect` an :class:`AsyncStream`.
    """

    def __init__(self, client: Client, feed: Feed) -> None:
        if client.reader != "thread":
            raise ValueError(
                'a stream reads on a thread of its own: make its client reader="thread"'
            )
        self.client = client
        self._feed = feed
        self._rates: dict[str, tuple[float, int, float]] = {}
        self._rates_lock = threading.Lock()
        # Sinks go on before the first frame can arrive. The reader holds the feed only.
        client.add_reader_sink(feed.deliver)
        client.add_reader_handler("gap", feed.on_gap)
        client.add_reader_handler("reconnected", feed.on_reconnected)
        self._finalizer = weakref.finalize(self, client.close_soon, CLOSE_WAIT)

    @property
    def stats(self) -> StreamStats:
        """What the reader thread stored so far."""
        return self._feed.stats

    @property
    def maxlen(self) -> int:
        """Rows kept per channel buffer."""
        return self._feed.maxlen

    # -- buffers ---------------------------------------------------------------------------

    def __getitem__(self, channel: str) -> RingBuffer:
        """The buffer of ``channel``; it exists once the channel was subscribed.

        Raises:
            KeyError: The channel was never subscribed on this stream.
        """
        try:
            return self._feed.buffers[channel]
        except KeyError:
            raise KeyError(
                f"{channel!r} is not buffered; subscribe to it first: "
                f"stream.subscribe([{channel!r}])"
            ) from None

    def __contains__(self, channel: object) -> bool:
        return channel in self._feed.buffers

    @property
    def channels(self) -> list[str]:
        """The buffered channels, in subscription order."""
        return list(self._feed.buffers)

    def buffer(self, channel: str) -> RingBuffer:
        """The buffer of ``channel``, created empty if it does not exist yet."""
        return self._feed.buffer(channel)

    @property
    def subscriptions(self) -> Mapping[str, list[dict[str, Any] | None]]:
        """The live subscriptions, channel -> filters (a snapshot; safe on any thread)."""
        return self.client.subscriptions

    # -- requests, run on the reader thread ------------------------------------------------

    def _subscribe(
        self, channels: str | Sequence[str], filters: Mapping[str, Any] | None, batch: int | None
    ) -> Coroutine[Any, Any, dict[str, Any]]:
        names = [channels] if isinstance(channels, str) else list(channels)
        for name in names:
            self._feed.buffer(name)
        return self.client.subscribe(names, filters, batch=batch, columns=batch is not None)

    def _unsubscribe(self, channels: str | Sequence[str]) -> Coroutine[Any, Any, dict[str, Any]]:
        names = [channels] if isinstance(channels, str) else list(channels)
        return self.client.unsubscribe(names)

    def _resubscription(self, selection: Mapping[str, Mapping[str, Any] | None]) -> Plan:
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
                self._feed.buffer(channel)
        return stale, [(channels, orjson.loads(key) or None) for key, channels in groups.items()]

    async def _resubscribe(self, plan: Plan) -> None:
        stale, additions = plan
        if stale:
            await self.client.unsubscribe(stale)
        for channels, filters in additions:
            await self.client.subscribe(channels, filters)

    def submit_resubscribe(
        self, selection: Mapping[str, Mapping[str, Any] | None]
    ) -> concurrent.futures.Future[None]:
        """Start :meth:`resubscribe` on the reader thread and return at once (any thread).

        What a control calls from a view's thread, which must not block on the
        network: the returned future settles when the server has answered.
        """
        return self.client.submit(self._resubscribe(self._resubscription(selection)))

    # -- recording -------------------------------------------------------------------------

    def record(
        self,
        path: str | os.PathLike[str],
        *,
        channels: Iterable[str] | None = None,
        row_group_size: int = 10_000,
    ) -> Recording:
        """Start writing every event of ``channels`` (default: all) to ``path``.

        The format follows the suffix: ``.parquet`` (row groups of
        ``row_group_size``), ``.csv`` or ``.jsonl``. The reader thread writes
        each frame as it stores it, so the recording gets what the buffers get;
        :meth:`Recording.close` flushes it.
        """
        wanted = None if channels is None else frozenset(channels)
        recorder = Recorder(path, row_group_size=row_group_size)

        def write(channel: str, events: Events) -> None:
            if wanted is None or channel in wanted:
                recorder.write_many(events)

        return Recording(recorder, self._feed.add_recorder(write))

    # -- status ----------------------------------------------------------------------------

    def status(self) -> StatusSnapshot:
        """A snapshot of connection and buffers for :class:`~nexus_nb.widgets.StatusBar`."""
        client = self.client
        stats = client.stats
        now = time.monotonic()
        feed = self._feed
        channels = {
            name: ChannelStatus(
                rate=self._rate(name, buffer.appended, now),
                rows=len(buffer),
                dropped=feed.missed(name),
                overflowed=buffer.evicted,
            )
            for name, buffer in feed.buffers.items()
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
        with self._rates_lock:
            last_t, last_n, rate = self._rates.get(channel, (now, appended, 0.0))
            dt = now - last_t
            if dt > 0:
                rate = 0.5 * rate + 0.5 * (appended - last_n) / dt
            self._rates[channel] = (now, appended, rate)
            return rate

    @property
    def state(self) -> State:
        """The client's connection state."""
        return self.client.state

    def __repr__(self) -> str:
        rows = sum(len(b) for b in self._feed.buffers.values())
        return (
            f"<{type(self).__name__} {self.client.url} {self.client.state.name.lower()} "
            f"channels={len(self._feed.buffers)} rows={rows}>"
        )


def _canonical(filters: Mapping[str, Any] | None) -> bytes:
    """``filters`` as sorted JSON, a value and a one-value list alike (the server's reading)."""
    items = {k: v if isinstance(v, list | tuple) else [v] for k, v in (filters or {}).items()}
    return orjson.dumps(items, option=orjson.OPT_SORT_KEYS)
