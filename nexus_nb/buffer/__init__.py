"""Buffer: bounded columnar storage of a channel's events and its DataFrame view.

No asyncio, no network: a client feeds :meth:`RingBuffer.append`/``extend``,
widgets poll :meth:`RingBuffer.read` and :attr:`RingBuffer.version`.
"""

from __future__ import annotations

from nexus_nb.buffer.gap import Gap, GapLog
from nexus_nb.buffer.ring import RingBuffer

__all__ = ["Gap", "GapLog", "RingBuffer"]
