"""Buffer: bounded columnar storage of a channel's events and its DataFrame view.

No asyncio, no network: a client feeds :meth:`RingBuffer.append`/``extend``,
widgets poll :meth:`RingBuffer.read` and :attr:`RingBuffer.version`. Live
aggregates (:meth:`RingBuffer.resample`, :meth:`RingBuffer.latest`) are folded
in the buffer's own store path and are widget sources too.
"""

from __future__ import annotations

from nexus_nb.buffer.gap import Gap, GapLog
from nexus_nb.buffer.latest import Latest
from nexus_nb.buffer.resample import FUNCTIONS, Resample
from nexus_nb.buffer.ring import RingBuffer

__all__ = ["FUNCTIONS", "Gap", "GapLog", "Latest", "Resample", "RingBuffer"]
