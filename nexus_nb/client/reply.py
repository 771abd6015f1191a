"""Matching server replies to the requests that caused them, with no I/O."""

from __future__ import annotations

import itertools
from collections import deque

from nexus_nb.protocol import Reply

__all__ = ["Replies"]


class Replies:
    """Pending request ids of one connection, matched by the ``id`` echo or in FIFO order.

    Our server echoes each request's ``id``. The reference server echoes nothing
    but answers every action with exactly one message, in order, so for it the
    oldest pending request owns the next reply. ``echoes_id`` picks the mode; a
    reply that carries a known ``id`` switches it on.

    A request whose caller gave up stays pending: in FIFO mode its late reply,
    when it comes, must not be taken for the next request's. Pending ids are
    dropped when the connection ends (:meth:`clear`), so they are bounded by the
    requests of one connection that are still unanswered.
    """

    def __init__(self, *, echoes_id: bool = False) -> None:
        self.echoes_id = echoes_id
        self._ids = itertools.count(1)
        self._pending: set[int] = set()
        self._order: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def register(self) -> int:
        """A new request id, pending until a reply matches it."""
        request_id = next(self._ids)
        self._pending.add(request_id)
        self._order.append(request_id)
        return request_id

    def match(self, reply: Reply) -> int | None:
        """The pending request ``reply`` answers (no longer pending), or ``None``."""
        echoed = reply.id
        if type(echoed) is int and echoed in self._pending:
            self.echoes_id = True
            self._order.remove(echoed)
            request_id = echoed
        elif self.echoes_id or not self._order:
            return None
        else:
            request_id = self._order.popleft()
        self._pending.discard(request_id)
        return request_id

    def clear(self) -> None:
        """Forget every pending request (the connection is gone)."""
        self._pending.clear()
        self._order.clear()
