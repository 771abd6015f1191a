"""Matching server replies to the requests that caused them."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from nexus_nb.exceptions import ProtocolError, SubscriptionError

__all__ = ["REPLY_TYPES", "Replies"]

#: Message types that answer a client action.
REPLY_TYPES: Final = frozenset(
    {
        "subscription_confirmed",
        "subscription_error",
        "unsubscription_confirmed",
        "pong",
        "publish_ack",
        "error",
    }
)


class Replies:
    """Pending requests of one connection, matched by the ``id`` echo or in FIFO order.

    Our server echoes each request's ``id``. The reference server echoes nothing
    but answers every action with exactly one message, in order, so for it the
    oldest pending request owns the next reply. ``echoes_id`` picks the mode; a
    reply that carries a known ``id`` switches it on.
    """

    def __init__(self, *, echoes_id: bool = False) -> None:
        self.echoes_id = echoes_id
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._order: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def register(self) -> tuple[int, asyncio.Future[dict[str, Any]]]:
        """A new request id and the future its reply will complete."""
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._order.append(request_id)
        return request_id, future

    def forget(self, request_id: int) -> None:
        """Stop waiting for ``request_id`` (its caller gave up).

        In FIFO mode its slot stays in the order so that the late reply, when it
        comes, is not taken for the next request's.
        """
        future = self._pending.get(request_id)
        if future is not None and not future.done():
            future.cancel()

    def resolve(self, message: Mapping[str, Any]) -> bool:
        """Complete the request ``message`` answers; return whether one matched."""
        request_id = message.get("id")
        if type(request_id) is int and request_id in self._pending:
            self.echoes_id = True
            self._order.remove(request_id)
            future = self._pending.pop(request_id)
        elif self.echoes_id or not self._order:
            return False
        else:
            future = self._pending.pop(self._order.popleft())
        if future.done():
            return True
        kind = message.get("type")
        if kind in ("subscription_error", "error"):
            code = str(message.get("code") or "ERROR")
            text = str(message.get("message", ""))
            cls = SubscriptionError if kind == "subscription_error" else ProtocolError
            future.set_exception(cls(code, text))
        else:
            future.set_result(dict(message))
        return True

    def fail_all(self, exc: BaseException) -> None:
        """Fail every pending request with ``exc`` (the connection is gone)."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
                # Retrieved here so an abandoned request logs no "never retrieved".
                future.exception()
        self._pending.clear()
        self._order.clear()
