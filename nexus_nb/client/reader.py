"""Reading the socket on a thread of its own, so that a busy cell loses nothing.

While a notebook cell runs, the kernel's event loop does not: a client on that
loop stops reading its socket, and the server, whose queue per client is
bounded, skips events. With ``Client(..., reader="thread")`` the whole
:class:`~nexus_nb.client.link.Link` (socket, :class:`~nexus_nb.client.protocol.ClientProtocol`,
heartbeat, reconnect) runs on a :class:`~nexus_nb.thread.LoopThread`'s own event loop instead,
and a :class:`Relay` stands between it and the kernel:

* reader sinks (:meth:`Relay.add_sink`, what :class:`~nexus_nb.session.Stream`
  uses to fill its buffers) are called on the reader thread, for every frame,
  as soon as it is decoded;
* everything else (sinks, handlers, ``async for`` iterators, ``state``
  changes) is handed back to the kernel's loop with ``call_soon_threadsafe``,
  in batches, in arrival order, so user code never runs on the reader thread.
  The event frames waiting there are bounded by ``max_size`` bytes (their size
  on the wire); past it a frame is dropped, counted in ``stats.handoff_dropped``,
  and the kernel's handlers get a local ``gap`` message (``"source": "client"``)
  in its place. Other messages always pass: they answer requests or report
  state, and come at the rate of requests and reconnects.

Replies to requests need no relay: the request runs on the reader's loop
(:meth:`LoopThread.run <nexus_nb.thread.LoopThread.run>`) and its result comes back through a
:class:`concurrent.futures.Future`, which asyncio settles on the caller's loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from nexus_nb.client.inbox import Inbox
from nexus_nb.client.listeners import Events
from nexus_nb.client.protocol import ClientProtocol, Received
from nexus_nb.client.state import ClientStats

__all__ = ["MAX_HANDOFF", "ReaderSink", "Relay"]

log = logging.getLogger("nexus_nb.client")

#: Default bound of the event frames waiting for the kernel's loop, bytes on the wire.
MAX_HANDOFF: Final = 64 * 2**20

ReaderSink = Callable[[str, Events, int], object]
"""``fn(channel, events, size)``: called on the reader thread; ``size`` is the frame's bytes."""

# A queued item: ("event", channel, events) | ("gap", channel, missed) |
# ("notify", type, message) | ("end", error, None).
_Item = tuple[str, Any, Any]


class Relay:
    """The link's inbox when it reads on a reader thread; see the module docstring.

    Args:
        inbox: The kernel-side inbox: sinks, handlers and iterators, called on ``loop``.
        stats: The client's counters (``handoff_dropped``).
        max_size: Most bytes of event frames waiting for ``loop``.
    """

    def __init__(self, inbox: Inbox, stats: ClientStats, *, max_size: int = MAX_HANDOFF) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1 byte")
        self.inbox = inbox
        self.stats = stats
        self.max_size = max_size
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sinks: list[ReaderSink] = []
        self.handlers: dict[str, list[Callable[[dict[str, Any]], object]]] = {}
        self.errors = 0
        self._lock = threading.Lock()
        self._items: list[_Item] = []
        self._bytes = 0
        self._scheduled = False
        self._frame_size = 0

    def add_sink(self, fn: ReaderSink) -> Callable[[], None]:
        """Call ``fn(channel, events, size)`` on the reader thread per frame; return the remover."""
        self.sinks = [*self.sinks, fn]

        def remove() -> None:
            self.sinks = [sink for sink in self.sinks if sink is not fn]

        return remove

    def add_handler(
        self, message_type: str, fn: Callable[[dict[str, Any]], object]
    ) -> Callable[[], None]:
        """Call ``fn(message)`` on the reader thread for ``message_type``; return the remover."""
        self.handlers = {**self.handlers, message_type: [*self.handlers.get(message_type, ()), fn]}

        def remove() -> None:
            kept = [h for h in self.handlers.get(message_type, ()) if h is not fn]
            self.handlers = {**self.handlers, message_type: kept}

        return remove

    def receiver(self, protocol: ClientProtocol) -> Callable[[bytes | str], Received | None]:
        """``protocol.receive_data``, noting each frame's size for the byte bound."""
        receive = protocol.receive_data

        def receive_sized(raw: bytes | str) -> Received | None:
            self._frame_size = len(raw)
            return receive(raw)

        return receive_sized

    # -- the Inbox interface, called on the reader thread ---------------------

    def deliver(self, channel: str, events: Events) -> None:
        """Hand one frame to the reader sinks now, and to the kernel's listeners in order."""
        size = self._frame_size
        for sink in self.sinks:
            try:
                sink(channel, events, size)
            except Exception:
                self.errors += 1
                log.exception("nexus_nb client reader sink %r raised", sink)
        if self.inbox.wants_events():
            self._put(("event", channel, events), size)

    def notify(self, message_type: str, message: dict[str, Any]) -> None:
        """Call the reader-thread handlers of ``message_type``, then hand it to the loop's."""
        for handler in self.handlers.get(message_type, ()):
            try:
                handler(message)
            except Exception:
                self.errors += 1
                log.exception("nexus_nb client reader handler %r raised", handler)
        self._put(("notify", message_type, message), 0)

    def end(self, error: BaseException | None) -> None:
        """End the kernel's iterators (the link is closed)."""
        self._put(("end", error, None), 0)

    def _put(self, item: _Item, size: int) -> None:
        if self.loop is None:
            return  # Opened with no running loop: no listener lives on one.
        with self._lock:
            items = self._items
            if size and self._bytes + size > self.max_size:
                missed = len(item[2])
                self.stats.handoff_dropped += missed
                last = items[-1] if items else None
                if last is not None and last[0] == "gap" and last[1] == item[1]:
                    items[-1] = ("gap", item[1], last[2] + missed)
                else:
                    items.append(("gap", item[1], missed))
            else:
                items.append(item)
                self._bytes += size
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self.dispatch)
        except RuntimeError:
            # The kernel's loop is closed: nobody is left to hand anything to.
            log.debug("nexus_nb client: the loop to hand messages to is closed")

    # -- on the kernel's loop --------------------------------------------------

    def dispatch(self) -> None:
        """Hand everything queued so far to the kernel-side inbox, in arrival order."""
        with self._lock:
            items, self._items = self._items, []
            self._bytes = 0
            self._scheduled = False
        inbox = self.inbox
        for kind, first, second in items:
            if kind == "event":
                inbox.deliver(first, second)
            elif kind == "notify":
                inbox.notify(first, second)
            elif kind == "gap":
                inbox.notify(
                    "gap",
                    {
                        "type": "gap",
                        "channel": first,
                        "missed": second,
                        "reason": "client_handoff",
                        "source": "client",
                    },
                )
            else:
                inbox.end(first)
