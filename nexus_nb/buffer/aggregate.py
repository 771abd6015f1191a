"""What every live aggregate of a buffer shares: the rows it reads, its counters.

An aggregate (:class:`~nexus_nb.buffer.resample.Resample`,
:class:`~nexus_nb.buffer.latest.Latest`) is folded by its buffer on every stored
batch and read by views as a source whose rows change in place. It depends on
the buffer only through :class:`Rows`, so the buffer module, which makes the
aggregates, is not imported back by them (no import circle, not even for types).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from nexus_nb.buffer.guard import locked
from nexus_nb.columnar.export import frame_to_arrow, frame_to_polars

__all__ = ["Aggregate", "Rows"]


class Rows(Protocol):
    """What an aggregate reads of its buffer (a :class:`~nexus_nb.buffer.RingBuffer`)."""

    channel: str

    @property
    def lock(self) -> threading.RLock: ...

    @property
    def columns(self) -> list[str]: ...

    def read(
        self, columns: Sequence[str], *, start: int = 0
    ) -> tuple[int, dict[str, npt.NDArray[Any]]]: ...

    def __len__(self) -> int: ...


class Aggregate:
    """Counters and source bookkeeping of a live aggregate over ``buffer``.

    Every counter is read fresh: reading it first stores the buffer's staged
    events, which folds them into the aggregate.
    """

    #: Held rows change in place: a view redraws them all on every change
    #: (see :class:`~nexus_nb.widgets.source.Source`).
    rewrites = True

    def __init__(self, buffer: Rows) -> None:
        self.channel = buffer.channel
        self._buffer = buffer
        self._seen = 0
        self._issued = 0
        self._evicted = 0
        self._ungrouped = 0
        self._missed = 0
        self._version = 0

    @property
    def lock(self) -> threading.RLock:
        """The buffer's lock: the aggregate is folded and read under it."""
        return self._buffer.lock

    @property
    @locked
    def ungrouped(self) -> int:
        """Rows whose group value is missing: not folded."""
        self._sync()
        return self._ungrouped

    @property
    @locked
    def missed(self) -> int:
        """Rows the buffer evicted before this aggregate saw them."""
        self._sync()
        return self._missed

    @property
    @locked
    def version(self) -> int:
        """Increases on every change."""
        self._sync()
        return self._version

    @property
    @locked
    def appended(self) -> int:
        """Rows issued so far: every change re-issues all held rows (see ``read``)."""
        self._sync()
        return self._issued

    def _sync(self) -> None:
        # Any read of the buffer stores its staged events, which folds them in here.
        len(self._buffer)

    def to_dataframe(self, *, last: int | str | None = None) -> pd.DataFrame:
        """Return the held rows; ``last`` keeps the last N rows or a duration ("5min")."""
        raise NotImplementedError

    def to_arrow(self) -> pa.Table:
        """Return :meth:`to_dataframe` as a :class:`pyarrow.Table` (same columns and values)."""
        return frame_to_arrow(self.to_dataframe())

    def to_polars(self) -> Any:
        """Return :meth:`to_dataframe` as a ``polars.DataFrame`` (needs the ``polars`` extra)."""
        return frame_to_polars(self.to_dataframe())

    @staticmethod
    def _last(frame: pd.DataFrame, last: int | str | None) -> pd.DataFrame:
        """Keep the last ``last`` rows, or those within ``last`` of the newest timestamp."""
        if isinstance(last, int):
            return frame.iloc[len(frame) - min(last, len(frame)) :].reset_index(drop=True)
        if last is not None:
            newest = frame["timestamp"].max()
            recent: pd.DataFrame = frame[frame["timestamp"] > newest - pd.Timedelta(last)]
            return recent.reset_index(drop=True)
        return frame
