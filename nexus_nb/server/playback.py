"""Publishing a capture again, paced by its original event times."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["replay"]

#: With ``speed=None``, yield to the loop after this many events.
YIELD_EVERY: Final = 256


async def replay(
    publish: Callable[..., int | Awaitable[int]],
    source: pd.DataFrame | str | os.PathLike[str],
    *,
    speed: float | None = 1.0,
    channel: str | None = None,
) -> int:
    """Publish every event of a capture at ``offset / speed`` seconds after the start.

    Args:
        publish: Called as ``publish(channel, data, timestamp=...)`` with each
            event's original timestamp; when it returns an awaitable (a shared
            log's write), that is awaited, so a long replay cannot outrun Redis.
        source: A capture DataFrame or a capture file path.
        speed: Time compression (2.0 = twice as fast); ``None`` publishes as fast
            as possible, yielding to the loop every ``YIELD_EVERY`` events.
        channel: Replay only this channel's events.

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

    loop = asyncio.get_running_loop()
    start = loop.time()
    count = 0
    for event in iter_events(source, channel=channel):
        if speed is None:
            if count % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
        else:
            delay = start + max(0.0, event.offset) / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        data: Mapping[str, Any] = event.data
        stored = publish(event.channel, data, timestamp=event.timestamp)
        if inspect.isawaitable(stored):
            await stored
        count += 1
    return count
