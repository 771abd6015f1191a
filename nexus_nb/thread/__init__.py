"""Plain calls: what lets a notebook cell call ``nnb.connect(...)`` without ``await``.

A call made at the top of a cell and not awaited blocks until its result is
ready, while the work runs on a :class:`LoopThread` (an event loop of its own),
never on the kernel's loop, which the blocked cell holds. :func:`awaited` tells
the two kinds of call apart; nothing here patches an event loop.
"""

from nexus_nb.thread.awaited import awaited, plain_or_awaitable
from nexus_nb.thread.loopthread import LoopThread

__all__ = ["LoopThread", "awaited", "plain_or_awaitable"]
