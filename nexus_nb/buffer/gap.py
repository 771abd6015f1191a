"""A bounded log of the stretches of a stream a buffer did not receive."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Gap", "GapLog"]

_UTC = pd.DatetimeTZDtype(unit="ns", tz="UTC")


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch of event time with no events received.

    Attributes:
        start: Start, int nanoseconds since the epoch, UTC.
        end: End, int nanoseconds since the epoch, UTC (``end >= start``).
        missed: Events known to be lost, or ``None`` when unknown.
        reason: Why, e.g. ``"reconnect"`` or ``"server_dropped"``.
    """

    start: int
    end: int
    missed: int | None
    reason: str


class GapLog:
    """The last ``maxlen`` gaps; older ones are dropped and counted in :attr:`dropped`."""

    def __init__(self, *, maxlen: int = 1000) -> None:
        self._gaps: deque[Gap] = deque(maxlen=maxlen)
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._gaps)

    def add(self, start: int, end: int, *, missed: int | None, reason: str) -> None:
        """Record a gap.

        Raises:
            ValueError: ``end`` is before ``start`` or ``missed`` is negative.
        """
        if end < start:
            raise ValueError(f"gap ends before it starts ({end} < {start})")
        if missed is not None and missed < 0:
            raise ValueError(f"missed must be >= 0, got {missed}")
        if len(self._gaps) == self._gaps.maxlen:
            self.dropped += 1
        self._gaps.append(Gap(int(start), int(end), missed, str(reason)))

    def frame(self) -> pd.DataFrame:
        """Return the gaps as columns ``start``, ``end``, ``duration``, ``missed``, ``reason``."""
        starts = np.array([gap.start for gap in self._gaps], dtype=np.int64)
        ends = np.array([gap.end for gap in self._gaps], dtype=np.int64)
        missed = np.array([gap.missed or 0 for gap in self._gaps], dtype=np.int64)
        unknown = np.array([gap.missed is None for gap in self._gaps], dtype=np.bool_)
        return pd.DataFrame(
            {
                "start": pd.Series(starts.view("datetime64[ns]"), dtype=_UTC),
                "end": pd.Series(ends.view("datetime64[ns]"), dtype=_UTC),
                "duration": pd.Series((ends - starts).view("timedelta64[ns]")),
                "missed": pd.arrays.IntegerArray(missed, unknown),
                "reason": pd.Series([gap.reason for gap in self._gaps], dtype="str"),
            }
        )
