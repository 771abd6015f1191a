"""Threads nexus_nb owns: an event loop on a thread of its own, and the one way in.

A :class:`LoopThread` runs an asyncio loop for one owner (a stream's reader, a
server started by ``serve()``, the views' frame clock). Other threads reach its
state only by handing work to that loop (``call_soon_threadsafe``,
``run_coroutine_threadsafe``); see ``docs/threads.md``.
"""

from nexus_nb.thread.loopthread import LoopThread, block_on

__all__ = ["LoopThread", "block_on"]
