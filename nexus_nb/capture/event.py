"""Turn a capture back into the events it holds, for a server or client to replay."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nexus_nb.capture.file import read_capture
from nexus_nb.capture.layout import ATTRS_KEY
from nexus_nb.columnar.dtype import python_values
from nexus_nb.columnar.flatten import unflatten
from nexus_nb.exceptions import CaptureError

__all__ = ["ReplayEvent", "iter_events"]


@dataclass(frozen=True, slots=True)
class ReplayEvent:
    """One captured event, ready to publish again.

    Attributes:
        offset: Seconds of event time since the first replayed event (negative
            for an event older than the first one; pace with ``max(0, ...)``).
        channel: The event's channel.
        timestamp: Event time as ``YYYY-MM-DDTHH:MM:SS.sssZ``.
        data: The event's data, nested again, with its ``timestamp`` key restored.
    """

    offset: float
    channel: str
    timestamp: str
    data: dict[str, Any]


def iter_events(
    source: pd.DataFrame | str | os.PathLike[str], *, channel: str | None = None
) -> Iterator[ReplayEvent]:
    """Yield the events of a capture frame or file in row order, for replay.

    Fields are un-flattened (``a.b`` -> ``{"a": {"b": ...}}``), missing values
    dropped, numpy scalars turned into Python ones; their order is the
    channel's own when the frame carries it (``attrs["nexus_nb.columns"]``, set
    by :func:`~nexus_nb.capture.read_capture`), else the frame's. Times keep millisecond
    precision only (as ``toISOString()`` prints them). Pacing is the caller's:
    sleep until each ``offset``.

    Args:
        source: A frame shaped like :meth:`RingBuffer.to_dataframe`, or a capture path.
        channel: Only events of this channel (default: all).

    Raises:
        CaptureError: The file cannot be read or the frame has no ``timestamp``.
    """
    frame = source if isinstance(source, pd.DataFrame) else read_capture(source)
    if "timestamp" not in frame.columns:
        raise CaptureError("a capture frame needs a 'timestamp' column")
    stamps = pd.to_datetime(frame["timestamp"], utc=True).astype("datetime64[ns, UTC]")
    moments = stamps.dt.tz_convert(None).to_numpy()
    nanos = moments.view(np.int64)
    # datetime64 casts floor, as format_timestamp does.
    texts = np.char.add(np.datetime_as_string(moments.astype("datetime64[ms]"), unit="ms"), "Z")
    if "channel" in frame.columns:
        channels = [value or "" for value in python_values(frame["channel"])]
    else:
        channels = [""] * len(frame)
    names = [name for name in frame.columns if name not in ("timestamp", "channel")]
    values = {name: python_values(frame[name]) for name in names}
    orders: dict[str, Any] = frame.attrs.get(ATTRS_KEY) or {}
    layouts: dict[str, list[tuple[str, list[Any]]]] = {}
    first: int | None = None
    for index, event_channel in enumerate(channels):
        if channel is not None and event_channel != channel:
            continue
        moment = int(nanos[index])
        if first is None:
            first = moment
        layout = layouts.get(event_channel)
        if layout is None:
            own = [name for name in orders.get(event_channel, ()) if name in values]
            order = own + [name for name in names if name not in own]
            layout = layouts[event_channel] = [(name, values[name]) for name in order]
        data = unflatten({name: column[index] for name, column in layout})
        text = str(texts[index])
        data["timestamp"] = text
        yield ReplayEvent((moment - first) / 1e9, str(event_channel), text, data)
