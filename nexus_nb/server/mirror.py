"""A bounded local copy of a shared log's newest entries, per channel, for ``resume``.

Each instance reading a shared stream (see :mod:`.redis_log`) keeps the last
``retention`` entries of every channel here, decoded once into :class:`Entry`
objects whose ``payload`` is built from the stored JSON without re-encoding it.
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections import deque
from collections.abc import Collection, Mapping
from typing import Final

import orjson

from nexus_nb.server.eventlog import Entry, Missed

__all__ = ["Mirror", "encode_event"]

logger: Final = logging.getLogger("nexus_nb.server.redis")


def encode_event(channel: bytes, ts: bytes, data: bytes, seq: int) -> bytes:
    """The ``event`` message as :func:`nexus_nb.protocol.event` builds it, from JSON parts.

    Args:
        channel: The channel as a JSON string (quoted).
        ts: The timestamp as a JSON string (quoted).
        data: The payload, a JSON object.
        seq: The event's ``seq``.
    """
    return b'{"type":"event","channel":%b,"timestamp":%b,"data":%b,"seq":%d}' % (
        channel,
        ts,
        data,
        seq,
    )


class Mirror:
    """The newest ``retention`` entries of each channel, in ``seq`` order, with holes allowed.

    Args:
        channels: The channels mirrored.
        retention: Entries kept per channel; older ones are dropped.

    Attributes:
        ids: The last stream ID taken per channel (where reading continues).
        skipped: Seqs never seen (trimmed from the stream before they were read).
        malformed: Entries whose ``data`` was not a JSON object (not delivered).
    """

    def __init__(self, channels: Collection[str], *, retention: int) -> None:
        self._rows: dict[str, deque[Entry]] = {c: deque(maxlen=retention) for c in channels}
        self._names = {c: orjson.dumps(c) for c in channels}
        self._last: dict[str, int] = dict.fromkeys(channels, 0)
        self.ids: dict[str, bytes] = dict.fromkeys(channels, b"0-0")
        self.skipped = 0
        self.malformed = 0

    def reset(self) -> None:
        """Forget everything (a new epoch starts)."""
        for channel, rows in self._rows.items():
            rows.clear()
            self._last[channel] = 0
            self.ids[channel] = b"0-0"

    def take(self, channel: str, entry_id: bytes, fields: Mapping[bytes, bytes]) -> Entry | None:
        """Decode and keep one stream entry (ID ``<seq>-0``, fields ``ts`` and ``data``).

        Returns:
            The new entry, or ``None`` when it was seen already or is malformed.
        """
        self.ids[channel] = entry_id
        seq = int(entry_id.partition(b"-")[0])
        last = self._last[channel]
        if seq <= last:
            return None
        if last and seq != last + 1:
            self.skipped += seq - last - 1
        self._last[channel] = seq
        raw_ts, raw = fields.get(b"ts", b""), fields.get(b"data", b"")
        try:
            data, ts = orjson.loads(raw), raw_ts.decode()
        except (orjson.JSONDecodeError, UnicodeDecodeError):
            data = ts = None
        if not isinstance(data, dict) or ts is None:
            self.malformed += 1
            logger.warning("skipping malformed entry %r on %s", entry_id, channel)
            return None
        payload = encode_event(self._names[channel], orjson.dumps(ts), raw, seq)
        entry = Entry(channel, seq, ts, data, payload)
        self._rows[channel].append(entry)
        return entry

    def since(self, channel: str, seq: int) -> tuple[list[Entry], Missed | None]:
        """The kept entries after ``seq``, and what is no longer kept after it.

        Holes inside the kept range (see ``skipped``, ``malformed``) are not reported.
        """
        rows = self._rows[channel]
        last = self._last[channel]
        if seq >= last:
            return [], None
        first = rows[0].seq if rows else last + 1
        missed = Missed(first - seq - 1, seq + 1, first - 1) if seq + 1 < first else None
        start = bisect.bisect_right(rows, seq, key=lambda entry: entry.seq)
        return list(itertools.islice(rows, start, None)), missed

    def last_seq(self, channel: str) -> int:
        """The newest ``seq`` taken on ``channel`` (0 before the first)."""
        return self._last[channel]
