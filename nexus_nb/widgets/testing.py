"""Test doubles for code that drives nexus_nb widgets: an in-memory source and a comm recorder.

Use them in your own tests the way httpx users use ``MockTransport``::

    source = MemorySource("telemetry.metrics")
    source.append({"timestamp": ts, "source": names, "value": values})
    plot = LivePlot(source)
    recorder = record_messages(plot)
    plot.render()
    assert recorder.frames
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MemorySource", "RecordingComm", "record_messages", "send_from_page"]


class MemorySource:
    """A bounded, columnar, in-memory ring of events satisfying :class:`Source`.

    Rows beyond ``maxlen`` are evicted from the front (oldest first); ``evicted``
    counts them. Appends are batched and cost O(rows appended); reads cost
    O(rows returned). Like a stream's buffers, it may be appended to on one
    thread (a cell, a task on the kernel's loop) while a view reads it on the
    frame clock's: both take its lock.

    Args:
        channel: The channel name reported to widgets.
        maxlen: The most rows kept; older rows are evicted first.

    Raises:
        ValueError: If ``maxlen`` is not positive.
    """

    def __init__(self, channel: str = "telemetry.metrics", *, maxlen: int = 100_000) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be positive")
        self.channel = channel
        self.maxlen = maxlen
        self.evicted = 0
        self._data: dict[str, np.ndarray] = {}
        self._appended = 0
        self._version = 0
        self._lock = threading.Lock()

    @property
    def version(self) -> int:
        """A counter that increases on every append."""
        return self._version

    @property
    def appended(self) -> int:
        """Total rows ever appended."""
        return self._appended

    @property
    def columns(self) -> list[str]:
        """Column names known so far, in the order first seen."""
        return list(self._data)

    def __len__(self) -> int:
        return min(self._appended, self.maxlen)

    def __repr__(self) -> str:
        return f"<MemorySource {self.channel!r} rows={len(self)} appended={self._appended}>"

    def append(self, rows: Mapping[str, Sequence[Any] | np.ndarray]) -> None:
        """Append a batch of rows given as equal-length columns.

        ``"timestamp"`` must be int64 nanoseconds; other columns are stored as
        float64 when numeric, else as objects. Columns missing from the batch are
        filled with NaN (numbers) or ``None`` (text).

        Raises:
            ValueError: If the columns have different lengths.
        """
        arrays = {name: np.asarray(values) for name, values in rows.items()}
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1:
            raise ValueError("all columns of a batch must have the same length")
        n = lengths.pop()
        if n == 0:
            return
        with self._lock:
            self._store(arrays, n)

    def _store(self, arrays: dict[str, np.ndarray], n: int) -> None:
        for name, values in arrays.items():
            if name not in self._data:
                self._data[name] = self._empty(name, values.dtype)
        # Only the newest maxlen rows of a huge batch can survive.
        skip = max(0, n - self.maxlen)
        slots = (np.arange(self._appended + skip, self._appended + n)) % self.maxlen
        for name, column in self._data.items():
            if name in arrays:
                column[slots] = arrays[name][skip:]
            else:
                column[slots] = None if column.dtype == object else np.nan
        self.evicted += max(0, self._appended + n - self.maxlen) - max(
            0, self._appended - self.maxlen
        )
        self._appended += n
        self._version += 1

    def _empty(self, name: str, dtype: np.dtype[Any]) -> np.ndarray:
        if name == "timestamp":
            return np.zeros(self.maxlen, dtype=np.int64)
        if dtype.kind in "biuf":
            return np.full(self.maxlen, np.nan)
        return np.full(self.maxlen, None, dtype=object)

    def read(self, columns: Sequence[str], *, start: int = 0) -> tuple[int, dict[str, np.ndarray]]:
        """Return rows with arrival index >= ``max(start, first retained)``, as copies."""
        with self._lock:
            return self._read(columns, start)

    def _read(self, columns: Sequence[str], start: int) -> tuple[int, dict[str, np.ndarray]]:
        first = max(start, self._appended - len(self), 0)
        slots = np.arange(first, self._appended) % self.maxlen
        out: dict[str, np.ndarray] = {}
        for name in columns:
            column = self._data.get(name)
            if column is None:
                out[name] = np.full(len(slots), np.nan)
            elif name == "timestamp" or column.dtype == object:
                out[name] = column[slots]
            else:
                out[name] = column[slots].astype(np.float64)
        return first, out

    def to_dataframe(self, *, last: int | str | None = None) -> pd.DataFrame:
        """Return a copy of the retained rows, or of the last ``last`` rows or duration."""
        _, cols = self.read(self.columns)
        frame = pd.DataFrame(cols)
        if "timestamp" in frame:
            frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ns", utc=True)
        if isinstance(last, int):
            return frame.tail(last).reset_index(drop=True)
        if isinstance(last, str) and "timestamp" in frame and len(frame):
            cutoff = frame["timestamp"].max() - pd.Timedelta(last)
            recent: pd.DataFrame = frame[frame["timestamp"] >= cutoff]
            return recent.reset_index(drop=True)
        return frame


class RecordingComm:
    """A stand-in for a widget's comm that records every message a widget sends.

    Attributes:
        messages: The ``data`` of every message, in order.
        buffers: The binary buffers of every message, in order.
        sizes: Bytes of each message: its JSON plus its binary buffers.
    """

    def __init__(self) -> None:
        self.comm_id = f"recording-{uuid.uuid4().hex}"
        self.messages: list[dict[str, Any]] = []
        self.buffers: list[list[memoryview]] = []
        self.sizes: list[int] = []

    def send(
        self,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
    ) -> None:
        """Record one message and its size in bytes."""
        payload = data or {}
        views = [memoryview(b) for b in buffers or []]
        size = len(json.dumps(payload, default=str)) + sum(v.nbytes for v in views)
        self.messages.append(payload)
        self.buffers.append(views)
        self.sizes.append(size)

    def on_msg(self, callback: Any) -> None:
        """Accept the widget's message callback; nothing is ever received."""

    def close(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing: there is no front-end."""

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self.messages.clear()
        self.buffers.clear()
        self.sizes.clear()

    @property
    def total_bytes(self) -> int:
        """Bytes recorded since the last :meth:`clear`."""
        return sum(self.sizes)

    @property
    def frames(self) -> list[tuple[dict[str, Any], list[memoryview]]]:
        """Every frame sent (see :mod:`nexus_nb.widgets.surface`), with its buffers, in order."""
        return [
            (data["content"], buffers)
            for data, buffers in zip(self.messages, self.buffers, strict=True)
            if data.get("method") == "custom" and data.get("content", {}).get("t") == "frame"
        ]


def record_messages(view: Any) -> RecordingComm:
    """Replace the comm of ``view``'s widget (or of a widget) with a recorder, and return it.

    Everything the widget sends afterwards lands in the recorder (ipywidgets
    sends through any comm that has no ``kernel`` attribute, so the recorder
    deliberately has none). A view's widget is built here if it was not yet:
    the recorder then plays the page that displays it.
    """
    widget = getattr(view, "widget", view)
    recorder = RecordingComm()
    widget.comm = recorder
    widget.displayed = True
    return recorder


def send_from_page(view: Any, content: dict[str, Any]) -> None:
    """Deliver ``content`` to ``view``'s widget as a page's custom message arrives.

    It takes the path a real one takes (handed to the view's clock when it has
    one), e.g. ``{"t": "event", "part": 0, "button": "mode"}``.
    """
    widget = getattr(view, "widget", view)
    widget.receive({"content": {"data": {"method": "custom", "content": content}}})
