"""The plain stream: ``stream = nnb.connect(url)`` in a cell or a script, no ``await``.

Every request blocks the calling thread until the server answered, while the
work runs on the stream's reader thread; nothing patches an event loop, so it
works the same in a Jupyter cell (whose thread runs the kernel's loop) and in a
script with no loop at all. Async code uses :func:`nexus_nb.aconnect` instead.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, NoReturn

from nexus_nb.buffer import RingBuffer
from nexus_nb.client import Client
from nexus_nb.client.credential import api_key_from_env
from nexus_nb.session.base import BaseStream
from nexus_nb.session.feed import Feed, Waiter

__all__ = ["Stream", "connect"]


class Stream(BaseStream):
    """A live connection and a bounded buffer per channel, with plain (blocking) calls.

    Made by :func:`connect`. ``stream["telemetry.metrics"]`` is that channel's
    :class:`~nexus_nb.buffer.RingBuffer`. ``with stream:`` closes it on exit.
    """

    def subscribe(
        self,
        channels: str | Sequence[str],
        filters: Mapping[str, Any] | None = None,
        *,
        batch: int | None = None,
    ) -> dict[str, Any]:
        """Subscribe and buffer ``channels``; returns the server's confirmation.

        Args:
            channels: Channel names (a single string is one channel).
            filters: The reference's filters: ``{key: value or [values]}``.
            batch: Ask for batches of up to this many events, in columnar form:
                the fastest way into the buffers at high rates (servers without
                the extension, such as the reference, ignore it).

        Raises:
            SubscriptionError: The server refused (unknown channel, bad filter...).
            TransportError: Not connected, or no reply within the client's ``open_timeout``.
        """
        return self.client.block_on(self._subscribe(channels, filters, batch))

    def unsubscribe(self, channels: str | Sequence[str]) -> dict[str, Any]:
        """Stop receiving ``channels``; their buffers keep what they hold.

        Raises:
            SubscriptionError: The server refused.
            TransportError: Not connected, or no reply in time.
        """
        return self.client.block_on(self._unsubscribe(channels))

    def resubscribe(self, selection: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Make the live subscriptions equal ``selection`` ({channel: filters or None}).

        Channels left out are unsubscribed; channels whose filters change are
        unsubscribed first (so old filters do not linger) and subscribed again;
        channels already subscribed with exactly these filters are not touched, so
        they miss no event. At most one ``unsubscribe`` and one ``subscribe`` per
        distinct filter set are sent.

        Raises:
            SubscriptionError: The server refused one of the requests.
        """
        self.client.block_on(self._resubscribe(self._resubscription(selection)))

    def wait_for(self, channel: str, *, rows: int = 1, timeout: float = 10.0) -> RingBuffer:
        """Block until ``channel``'s buffer holds at least ``rows`` rows; returns the buffer.

        The reader thread keeps filling the buffers meanwhile, and wakes this
        call as soon as the rows are there (an interrupt stops the wait).

        Raises:
            TimeoutError: Not enough rows arrived within ``timeout`` seconds.
        """
        buffer = self.buffer(channel)
        arrived = threading.Event()
        waiter = Waiter(channel, rows, arrived.set)
        if not self._feed.add_waiter(waiter):
            return buffer
        try:
            if not arrived.wait(timeout):
                raise TimeoutError(f"{channel}: {len(buffer)} of {rows} rows after {timeout} s")
        finally:
            self._feed.remove_waiter(waiter)
        return buffer

    def close(self) -> None:
        """Close the connection and end the reader thread; every frame read is in the buffers.

        Idempotent. Raises :class:`RuntimeError` on the reader thread itself (from
        a reader sink or handler), where it would wait for itself.
        """
        self.client.close()
        self._finalizer.detach()

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __await__(self) -> Generator[Any, None, NoReturn]:
        raise TypeError(
            "nnb.connect() returns a connected Stream: drop the await "
            "(or use `await nnb.aconnect(...)` for an AsyncStream in async code)"
        )


def connect(
    url: str,
    *,
    api_key: str | None = None,
    maxlen: int = 100_000,
    window: str | float | None = None,
    **client_options: Any,
) -> Stream:
    """Connect to a Nexus server; return a :class:`Stream` that buffers what it receives.

    A plain call: blocks until connected. The socket is read on a thread the
    stream owns, which stores every frame in the buffers as it arrives, so a
    cell that computes loses nothing. The stream is closed by :meth:`Stream.close`,
    by ``with``, or once the notebook no longer references it.

    Args:
        url: ``ws://`` or ``wss://`` address of the server.
        api_key: Bearer key (default: the ``NEXUS_API_KEY`` environment variable).
        maxlen: Rows kept per channel buffer (oldest evicted first, counted).
        window: Optional event-time window per buffer (``"10min"`` or seconds).
        **client_options: Passed to :class:`nexus_nb.client.Client` (reconnect,
            backoff, heartbeat, ssl, recover...).

    Raises:
        AuthError: The server refused the key.
        TransportError: The server could not be reached.
    """
    client = Client(url, api_key=api_key_from_env(api_key), reader="thread", **client_options)
    stream = Stream(client, Feed(maxlen=maxlen, window=window))
    client.open()
    return stream
