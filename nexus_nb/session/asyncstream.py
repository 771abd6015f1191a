"""The async stream: ``stream = await nnb.aconnect(url)`` in async code.

The same stream as :class:`~nexus_nb.session.stream.Stream` (its socket read
and its buffers written on a thread it owns, so a busy loop loses nothing);
only its requests are coroutines, awaited on the caller's loop while they run
on the reader thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping, Sequence
from types import TracebackType
from typing import Any

from nexus_nb.buffer import RingBuffer
from nexus_nb.client import Client
from nexus_nb.client.credential import api_key_from_env
from nexus_nb.session.base import BaseStream
from nexus_nb.session.feed import Feed, Waiter

__all__ = ["AsyncStream", "aconnect"]


class AsyncStream(BaseStream):
    """A live connection and a bounded buffer per channel, with coroutine calls.

    Made by :func:`aconnect`: ``stream = await nnb.aconnect(url)``, or
    ``async with nnb.aconnect(url) as stream:`` to close it when the block ends.
    """

    async def subscribe(
        self,
        channels: str | Sequence[str],
        filters: Mapping[str, Any] | None = None,
        *,
        batch: int | None = None,
    ) -> dict[str, Any]:
        """Subscribe and buffer ``channels``; returns the server's confirmation.

        As :meth:`Stream.subscribe <nexus_nb.Stream.subscribe>`, awaited.

        Raises:
            SubscriptionError: The server refused (unknown channel, bad filter...).
            TransportError: Not connected, or no reply within the client's ``open_timeout``.
        """
        return await asyncio.wrap_future(
            self.client.submit(self._subscribe(channels, filters, batch))
        )

    async def unsubscribe(self, channels: str | Sequence[str]) -> dict[str, Any]:
        """Stop receiving ``channels``; their buffers keep what they hold.

        Raises:
            SubscriptionError: The server refused.
            TransportError: Not connected, or no reply in time.
        """
        return await asyncio.wrap_future(self.client.submit(self._unsubscribe(channels)))

    async def resubscribe(self, selection: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Make the live subscriptions equal ``selection`` (see :meth:`Stream.resubscribe`).

        Raises:
            SubscriptionError: The server refused one of the requests.
        """
        await asyncio.wrap_future(self.submit_resubscribe(selection))

    async def wait_for(
        self,
        channel: str,
        *,
        rows: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - a bounded wait is what notebooks need
    ) -> RingBuffer:
        """Wait until ``channel``'s buffer holds at least ``rows`` rows; returns the buffer.

        Raises:
            TimeoutError: Not enough rows arrived within ``timeout`` seconds.
        """
        buffer = self.buffer(channel)
        loop = asyncio.get_running_loop()
        arrived = loop.create_future()

        def wake() -> None:  # on the reader thread
            loop.call_soon_threadsafe(_settle, arrived)

        waiter = Waiter(channel, rows, wake)
        if not self._feed.add_waiter(waiter):
            return buffer
        try:
            await asyncio.wait_for(arrived, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{channel}: {len(buffer)} of {rows} rows after {timeout} s"
            ) from None
        finally:
            self._feed.remove_waiter(waiter)
        return buffer

    async def aclose(self) -> None:
        """Close the connection and end the reader thread; every frame read is in the buffers.

        Idempotent.
        """
        await self.client.aclose()
        self._finalizer.detach()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Connecting:
    """What :func:`aconnect` returns: await it for the stream, or ``async with`` it."""

    def __init__(self, client: Client, feed: Feed) -> None:
        self._client = client
        self._feed = feed
        self._stream: AsyncStream | None = None

    async def _start(self) -> AsyncStream:
        stream = AsyncStream(self._client, self._feed)
        await self._client.start()
        self._stream = stream
        return stream

    def __await__(self) -> Generator[Any, None, AsyncStream]:
        return self._start().__await__()

    async def __aenter__(self) -> AsyncStream:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._stream is not None  # __aenter__ made it
        await self._stream.aclose()


def aconnect(
    url: str,
    *,
    api_key: str | None = None,
    maxlen: int = 100_000,
    window: str | float | None = None,
    **client_options: Any,
) -> _Connecting:
    """Connect to a Nexus server from async code; await it for an :class:`AsyncStream`.

    ``stream = await nnb.aconnect(url)`` or ``async with nnb.aconnect(url) as
    stream:``. Arguments as :func:`nexus_nb.connect`; the stream reads on a
    thread it owns, so a busy loop loses nothing, as with the plain form.

    Raises:
        AuthError: The server refused the key (when awaited).
        TransportError: The server could not be reached (when awaited).
    """
    client = Client(url, api_key=api_key_from_env(api_key), reader="thread", **client_options)
    return _Connecting(client, Feed(maxlen=maxlen, window=window))
