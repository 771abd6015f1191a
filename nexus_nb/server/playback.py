"""Publishing a capture again, paced by its original event times."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from nexus_nb.server.pace import Clock, Pacer

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["replay"]

#: Events published per batch; between batches the loop runs other tasks.
BATCH: Final = 256


async def replay(
    store: Callable[[str, Mapping[str, Any], str], Awaitable[object]],
    source: pd.DataFrame | str | os.PathLike[str],
    *,
    speed: float | None = 1.0,
    channel: str | None = None,
    clock: Clock | None = None,
) -> int:
    """Publish every event of a capture at ``offset / speed`` seconds after the start.

    Args:
        store: Awaited as ``store(channel, data, timestamp)`` with each event's
            original timestamp before the next event is published, so a long
            replay cannot outrun a shared log's writes.
        source: A capture DataFrame or a capture file path.
        speed: Time compression (2.0 = twice as fast); ``None`` publishes as fast
            as possible. Either way the loop runs other tasks every ``BATCH`` events.
        channel: Replay only this channel's events.
        clock: Paces the events (:class:`~nexus_nb.server.pace.Pacer`); the
            running loop's by default.

    Returns:
        The number of events published.

    Raises:
        ValueError: ``speed`` is not positive.
        CaptureError: The capture cannot be read.
        ProtocolError: ``INVALID_CHANNEL`` for an event on a channel the server
            does not serve (events before it were published).
    """
    if speed is not None and not speed > 0:
        raise ValueError("speed must be positive, or None for as fast as possible")
    # Imported here: the capture layer loads pandas, which a server that never
    # replays should not pay for at import.
    from nexus_nb.capture import iter_events

    events = iter_events(source, channel=channel)
    due = (((max(0.0, e.offset) / speed if speed else 0.0), e) for e in events)
    count = 0
    async for batch in Pacer(due, clock=clock, max_batch=BATCH):
        for event in batch:
            await store(event.channel, event.data, event.timestamp)
            count += 1
    return count
