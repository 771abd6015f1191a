"""A shared event log on Redis Streams: any number of server instances serve one stream.

Keys (``prefix`` ``nexus`` by default; see ``docs/deploy.md`` for producers):

* ``nexus:epoch`` (string): the sequence space's id, set once by the first instance.
* ``nexus:seq:<channel>`` (integer): the channel's last ``seq``.
* ``nexus:stream:<channel>`` (stream): one entry per event with the explicit ID
  ``<seq>-0`` and the fields ``ts`` (ISO 8601) and ``data`` (a JSON object),
  trimmed to about ``retention`` entries.

Events enter only through :data:`PUBLISH_SCRIPT`, which checks the epoch, takes the
next ``seq`` and appends in one atomic step, so the stream ID *is* the ``seq`` on
every instance. Each instance runs one link task: it reads all channel streams
with ``XREAD BLOCK`` from its last IDs, keeps a bounded mirror of the last
``retention`` entries per channel for ``resume``, and hands each entry to the local
fan-out; it also writes what this instance publishes, batched per channel.
Streams keep entries while an instance is away, which is why they replace the
reference's pub/sub: a reconnecting instance reads what it missed.

Reader, writer and epoch sync live in one module (past the ~300-line aim)
because they share one connection's fate: any of them failing restarts all three.

If the epoch key is gone (Redis restarted without persistence) or a ``seq``
counter went back (restored from an older snapshot), a new epoch starts and
``on_epoch`` is called: the server closes its clients with 1012 so that they
reconnect and see it.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import secrets
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from enum import Enum
from typing import Any, Final, cast

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from nexus_nb.exceptions import TransportError
from nexus_nb.server.eventlog import Entry, Missed
from nexus_nb.server.mirror import Mirror

__all__ = ["PUBLISH_SCRIPT", "LinkState", "RedisEventLog"]

logger: Final = logging.getLogger("nexus_nb.server.redis")

#: KEYS: epoch, seq, stream. ARGV: expected epoch ('' accepts any), maxlen, then
#: ts, data for each event. Returns the last seq. Errors NOEPOCH / EPOCH write nothing.
PUBLISH_SCRIPT: Final = """\
local epoch = redis.call('GET', KEYS[1])
if not epoch then return redis.error_reply('NOEPOCH no nexus epoch yet') end
if ARGV[1] ~= '' and ARGV[1] ~= epoch then return redis.error_reply('EPOCH changed') end
local seq = 0
for i = 3, #ARGV, 2 do
  seq = redis.call('INCR', KEYS[2])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], seq .. '-0',
             'ts', ARGV[i], 'data', ARGV[i + 1])
end
return seq
"""

# KEYS: epoch. ARGV: candidate, old. Sets the candidate when the key is missing
# or still holds ``old``; returns the epoch in force.
_EPOCH_SCRIPT: Final = """\
local current = redis.call('GET', KEYS[1])
if (not current) or (ARGV[2] ~= '' and current == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return current
"""

_XReadReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] | None

_LOST: Final = (RedisConnectionError, RedisTimeoutError, OSError)


def _raise_if_cancelling() -> None:
    """Honour a cancellation that redis-py swallowed (the task still counts it)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _report_failure(
    on_error: Callable[[BaseException], object], future: asyncio.Future[int]
) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        on_error(exc)


class LinkState(Enum):
    """The connection between one instance and Redis."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  #: reconnecting; publishes wait in the bounded queue
    FAILED = "failed"  #: the link task died of a non-Redis error (see the log)
    CLOSED = "closed"


class _Resync(Exception):
    """The publish script saw another epoch: sync before writing again."""


class _Pending:
    __slots__ = ("channel", "datas", "future", "timestamp")

    def __init__(
        self, channel: str, timestamp: str, datas: list[bytes], future: asyncio.Future[int]
    ) -> None:
        self.channel = channel
        self.timestamp = timestamp
        self.datas = datas
        self.future = future


class RedisEventLog:
    """An event log shared through Redis Streams; start it with :meth:`start`.

    An :class:`~nexus_nb.server.eventlog.EventLog` whose ``seq`` Redis assigns:
    :meth:`submit` queues events, its future resolves once they are written, and
    they come back to every instance, this one included, through the ``deliver``
    callback given to :meth:`start`.

    Args:
        url: ``redis://`` or ``rediss://`` URL.
        channels: The channels read and written.
        prefix: Key prefix.
        retention: Entries kept per channel, in the stream (``MAXLEN ~``, so
            slightly more) and in each instance's mirror; resumers who need older
            ones get a ``gap``.
        max_pending: Events queued for writing (mostly while Redis is away); past
            it :meth:`submit` raises ``TransportError`` (counted in ``rejected``).
        max_batch: Events written per round trip at most.
        block: Seconds one ``XREAD`` waits for new entries.
        timeout: Seconds for any Redis reply beyond ``block``; a silent Redis is
            declared lost after that.
        reconnect_max: Longest pause between reconnection attempts, in seconds.
    """

    def __init__(
        self,
        url: str,
        channels: Collection[str],
        *,
        prefix: str = "nexus",
        retention: int = 10_000,
        max_pending: int = 10_000,
        max_batch: int = 500,
        block: float = 1.0,
        timeout: float = 5.0,
        reconnect_max: float = 2.0,
    ) -> None:
        if retention < 1 or max_pending < 1 or max_batch < 1:
            raise ValueError("retention, max_pending and max_batch must be >= 1")
        self.url = url
        self._retention = retention
        self._max_pending = max_pending
        self._max_batch = max_batch
        self._block_ms = max(1, round(block * 1000))
        self._reconnect_max = reconnect_max
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=block + timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # a replayed publish would duplicate events
        )
        self._publish_sha = ""
        self._epoch_key = f"{prefix}:epoch"
        self._seq_keys = {c: f"{prefix}:seq:{c}" for c in channels}
        self._stream_keys = {c: f"{prefix}:stream:{c}" for c in channels}
        self._by_stream = {k.encode(): c for c, k in self._stream_keys.items()}
        self._mirror = Mirror(channels, retention=retention)
        self._queue: deque[_Pending] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._epoch = ""
        self._deliver: Callable[[Entry], object] = lambda entry: None
        self._on_epoch: Callable[[str], object] = lambda epoch: None
        self._on_gap: Callable[[str, Missed], object] = lambda channel, missed: None
        self._task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None
        self.state = LinkState.CONNECTING
        self.counts = dict.fromkeys(
            ("written", "read", "rejected", "failed", "reconnects", "epochChanges"), 0
        )

    def __repr__(self) -> str:
        return f"<RedisEventLog {self.state.name} epoch={self._epoch}>"

    @property
    def epoch(self) -> str:
        """The shared sequence space's id (empty before :meth:`start`)."""
        return self._epoch

    async def start(
        self,
        deliver: Callable[[Entry], object],
        on_epoch: Callable[[str], object],
        on_gap: Callable[[str, Missed], object],
    ) -> None:
        """Join the shared log: agree on the epoch, fill the mirror, start the link task.

        Args:
            deliver: Called with every entry read, in ``seq`` order per channel.
            on_epoch: Called with the new epoch when Redis lost its data.
            on_gap: Called when the stream was trimmed past entries this instance
                had not read yet (it was cut off from Redis, or fell behind by more
                than ``retention``): those events never reach its clients.

        Raises:
            TransportError: Redis cannot be reached now.
        """
        self._deliver, self._on_epoch, self._on_gap = deliver, on_epoch, on_gap
        try:
            await self._sync()
        except (*_LOST, RedisError) as exc:
            await self._redis.aclose()
            raise TransportError(f"cannot reach Redis at {self.url}: {exc}") from exc
        self.state = LinkState.CONNECTED
        self._task = asyncio.create_task(self._run(), name="nexus-redis-link")
        self._task.add_done_callback(self._done)

    def submit(
        self, channel: str, events: Sequence[Mapping[str, Any]], timestamp: str
    ) -> asyncio.Future[int]:
        """Queue events for writing; the future gives the last one's ``seq``.

        Raises:
            TypeError: An event is not JSON-serialisable (nothing is queued).
            TransportError: The queue holds ``max_pending`` events already, or the
                log is closed. The future itself fails with ``TransportError`` when
                the connection broke while writing (the outcome is unknown then).
        """
        if self.state in (LinkState.CLOSED, LinkState.FAILED):
            raise TransportError(f"the Redis log is {self.state.value}")
        datas = [orjson.dumps(data) for data in events]
        if self._queued + len(datas) > self._max_pending:
            self.counts["rejected"] += len(datas)
            raise TransportError(f"Redis write queue full ({self._max_pending} events)")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(channel, timestamp, datas, future))
        self._queued += len(datas)
        self._wake.set()
        return future

    def submit_nowait(
        self,
        channel: str,
        events: Sequence[Mapping[str, Any]],
        timestamp: str,
        on_error: Callable[[BaseException], object],
    ) -> int:
        """Queue events as :meth:`submit` does; return 0, Redis assigns their ``seq`` later.

        ``on_error(exc)`` is called with the ``TransportError`` of a write that failed.

        Raises:
            TypeError: As :meth:`submit`.
            TransportError: As :meth:`submit`.
        """
        self.submit(channel, events, timestamp).add_done_callback(
            functools.partial(_report_failure, on_error)
        )
        return 0

    def since(self, channel: str, seq: int) -> tuple[list[Entry], Missed | None]:
        """The mirrored entries after ``seq``, and what is no longer retained after it."""
        return self._mirror.since(channel, seq)

    def last_seq(self, channel: str) -> int:
        """The newest ``seq`` this instance has read on ``channel``."""
        return self._mirror.last_seq(channel)

    @property
    def healthy(self) -> bool:
        """Whether the link to Redis is up."""
        return self.state is LinkState.CONNECTED

    def metrics(self) -> dict[str, Any]:
        """The link's state and counters, for ``/metrics``."""
        mirror = self._mirror
        return {
            "state": self.state.value,
            "pending": self._queued,
            **self.counts,
            "skipped": mirror.skipped,
            "malformed": mirror.malformed,
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while the link is up; ``/healthz`` shows its state under ``log``."""
        return self.healthy, {"log": self.state.value}

    async def aclose(self) -> None:
        """Stop the link task, fail queued publishes and close the connections."""
        if self._task is not None:
            self._task.cancel()
            # wait() rather than await: a failure was logged already by _done.
            await asyncio.wait([self._task])
        self._fail_queue(TransportError("the Redis log is closed"))
        self.state = LinkState.CLOSED
        await self._redis.aclose()

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.error = task.exception()
            self.state = LinkState.FAILED
            self._fail_queue(TransportError(f"the Redis link failed: {self.error!r}"))
            logger.error("redis link failed", exc_info=self.error, extra={"event": "redis.failed"})

    def _fail_queue(self, exc: TransportError) -> None:
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(exc)
        self._queued = 0

    async def _run(self) -> None:
        delay = 0.05
        while True:
            if self.state is not LinkState.CONNECTED:
                try:
                    await self._sync()
                except _LOST as exc:
                    logger.info("redis still unreachable: %s", exc, extra={"event": "redis.retry"})
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._reconnect_max)
                    continue
                self.state = LinkState.CONNECTED
                logger.warning("redis reconnected", extra={"event": "redis.connected"})
            delay = 0.05
            _raise_if_cancelling()
            try:
                await self._serve()
            except (*_LOST, _Resync) as exc:
                self.state = LinkState.DISCONNECTED
                self.counts["reconnects"] += 1
                logger.warning("redis link lost: %r", exc, extra={"event": "redis.lost"})
                # Idle pooled sockets to the old server would fail the next publish.
                await self._redis.connection_pool.disconnect()

    async def _serve(self) -> None:
        # Reader and writer share the fate of the connection: either failing ends both.
        tasks = [
            asyncio.create_task(self._read(), name="nexus-redis-read"),
            asyncio.create_task(self._write(), name="nexus-redis-write"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
            _, pending = await asyncio.wait(tasks, timeout=0.1)
            if pending:
                # redis-py 8 can lose a cancellation that lands just as a blocking
                # XREAD is sent; closing the sockets ends that read with an error.
                await self._redis.connection_pool.disconnect()
                await asyncio.wait(pending)
            for task in tasks:
                if not task.cancelled():
                    task.exception()  # retrieved, or asyncio logs it; raised below
        for task in done:
            task.result()

    async def _sync(self) -> None:
        """Agree on the epoch; on a new one, forget the mirror and refill it."""
        self._publish_sha = await self._redis.script_load(PUBLISH_SCRIPT)
        epoch = await self._swap_epoch(secrets.token_hex(8), "")
        if epoch == self._epoch:
            counters = await self._redis.mget(list(self._seq_keys.values()))
            last = self._mirror.last_seq
            behind = any(
                int(n or 0) < last(c) for c, n in zip(self._seq_keys, counters, strict=True)
            )
            if not behind:
                return
            # Restored from an older snapshot: seqs we already delivered would be reused.
            epoch = await self._swap_epoch(secrets.token_hex(8), self._epoch)
        changed = bool(self._epoch)
        await self._fill()
        self._epoch = epoch
        if changed:
            self.counts["epochChanges"] += 1
            logger.warning(
                "redis lost its data: new epoch %s", epoch, extra={"event": "redis.epoch"}
            )
            self._on_epoch(epoch)

    async def _swap_epoch(self, candidate: str, old: str) -> str:
        reply = await self._redis.eval(_EPOCH_SCRIPT, 1, self._epoch_key, candidate, old)
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    async def _fill(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for key in self._stream_keys.values():
            pipe.xrevrange(key, count=self._retention)
        replies = await pipe.execute()
        self._mirror.reset()
        for channel, reply in zip(self._stream_keys, replies, strict=True):
            for entry_id, fields in reversed(reply):
                self._mirror.take(channel, entry_id, fields)

    async def _read(self) -> None:
        by_stream, mirror, ids = self._by_stream, self._mirror, self._mirror.ids
        while True:
            streams: dict[Any, Any] = {k: ids[c] for c, k in self._stream_keys.items()}
            reply = cast(
                _XReadReply,
                await self._redis.xread(streams, count=self._max_batch, block=self._block_ms),
            )
            _raise_if_cancelling()
            for key, items in reply or ():
                channel = by_stream[key]
                for entry_id, fields in items:
                    last = mirror.last_seq(channel)
                    entry = mirror.take(channel, entry_id, fields)
                    if entry is not None:
                        if last and entry.seq > last + 1:
                            self._on_gap(
                                channel, Missed(entry.seq - last - 1, last + 1, entry.seq - 1)
                            )
                        self.counts["read"] += 1
                        self._deliver(entry)

    async def _write(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._wake.clear()
                await self._wake.wait()
            batch: list[_Pending] = []
            count = 0
            while queue and count < self._max_batch:
                pending = queue.popleft()
                batch.append(pending)
                count += len(pending.datas)
            self._queued -= count
            try:
                retry = await self._send(batch)
            except BaseException as exc:
                # Sent or not, nobody can tell: fail them rather than risk duplicates.
                if isinstance(exc, TransportError):
                    failure = exc
                else:
                    failure = TransportError(f"Redis publish interrupted, outcome unknown: {exc!r}")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(failure)
                        self.counts["failed"] += len(pending.datas)
                raise
            if retry:
                # Nothing of these was written: they go first once the epoch is settled.
                queue.extendleft(reversed(retry))
                self._queued += sum(len(p.datas) for p in retry)
                raise _Resync("the publish script saw another epoch")

    async def _send(self, batch: list[_Pending]) -> list[_Pending]:
        """Write ``batch`` in one round trip; return the submissions to retry after a sync."""
        # One script call per run of same-channel submissions.
        runs = [list(g) for _, g in itertools.groupby(batch, key=lambda p: p.channel)]
        pipe = self._redis.pipeline(transaction=False)
        for run in runs:
            channel = run[0].channel
            args: list[str | bytes | int] = [self._epoch, self._retention]
            for pending in run:
                ts = pending.timestamp
                for data in pending.datas:
                    args += (ts, data)
            keys = [self._epoch_key, self._seq_keys[channel], self._stream_keys[channel]]
            pipe.evalsha(self._publish_sha, len(keys), *keys, *args)
        replies = await pipe.execute(raise_on_error=False)
        retry: list[_Pending] = []
        for run, reply in zip(runs, replies, strict=True):
            if isinstance(reply, ResponseError):
                # NOSCRIPT, NOEPOCH and EPOCH fail before the script writes anything.
                if not str(reply).startswith(("NOSCRIPT", "NOEPOCH", "EPOCH")):
                    raise TransportError(f"Redis refused a publish: {reply}") from reply
                retry += run
                continue
            last = int(reply)
            self.counts["written"] += sum(len(p.datas) for p in run)
            for pending in reversed(run):
                if not pending.future.done():
                    pending.future.set_result(last)
                last -= len(pending.datas)
        return retry
