"""The read-only view of buffered events that every live widget renders from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = ["Source"]


@runtime_checkable
class Source(Protocol):
    """Columns of events in arrival order, bounded, evicted from the front.

    ``nexus_nb.buffer.RingBuffer`` satisfies this protocol; widgets depend on the
    protocol only, so they never import the buffer layer.

    A source whose rows change in place (an aggregate such as
    ``RingBuffer.resample``) says so with a class attribute ``rewrites = True``:
    it re-issues every held row on each change, and a view redraws from those
    rows instead of adding them to what it drew before. The attribute is
    optional; without it a source is append-only.

    Attributes:
        channel: The Nexus channel the rows came from, e.g. ``"telemetry.metrics"``.
    """

    channel: str

    @property
    def version(self) -> int:
        """A counter that increases on every change; unchanged means nothing to render."""
        ...

    @property
    def appended(self) -> int:
        """Total rows ever appended, i.e. the arrival index the next row will get."""
        ...

    @property
    def columns(self) -> list[str]:
        """Names of the columns known so far."""
        ...

    def read(self, columns: Sequence[str], *, start: int = 0) -> tuple[int, dict[str, np.ndarray]]:
        """Return the rows whose arrival index is at least ``max(start, first retained)``.

        ``"timestamp"`` is int64 nanoseconds since the epoch (UTC), numbers and
        booleans are float64 (NaN when missing), text is an object array of ``str``
        (``None`` when missing); a column the source does not have yet comes back
        all-NaN float64. Cost is O(rows returned), never O(buffer).

        Returns:
            The arrival index of the first returned row and one array per column.
        """
        ...

    def to_dataframe(self, *, last: int | str | None = None) -> pd.DataFrame:
        """Return a copy of the last ``last`` rows (a count or a duration such as ``"5min"``)."""
        ...

    def __len__(self) -> int:
        """Return the number of rows currently retained."""
        ...
