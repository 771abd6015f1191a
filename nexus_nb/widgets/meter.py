"""Counting what a view sends to the page, and rates over a sliding second.

Every message a view's parts send goes through :meth:`Part.send
<nexus_nb.widgets.surface.Part.send>`, which counts it in the view's
:class:`MessageMeter`: the frame clock budgets real messages.
"""

from __future__ import annotations

__all__ = ["MessageMeter", "Rate"]


class Rate:
    """Events per second over the last completed window of at least ``span`` seconds.

    Args:
        span: Length of a measuring window in seconds.
    """

    def __init__(self, *, span: float = 1.0) -> None:
        self.span = span
        self.total = 0
        self._count = 0
        self._start: float | None = None
        self._rate = 0.0

    def add(self, count: int, now: float) -> None:
        """Record ``count`` events at time ``now`` (monotonic seconds)."""
        if self._start is None:
            self._start = now
        elapsed = now - self._start
        if elapsed >= self.span:
            self._rate = self._count / elapsed
            self._count = 0
            self._start = now
        self._count += count
        self.total += count

    def rate(self, now: float) -> float:
        """Return the rate of the last completed window (0 once it is two spans stale)."""
        if self._start is not None and now - self._start >= 2 * self.span:
            return self._count / (now - self._start)
        return self._rate


class MessageMeter:
    """A count of messages sent by the widgets of one view.

    Attributes:
        sent: Messages sent so far.
    """

    def __init__(self) -> None:
        self.sent = 0

    def __repr__(self) -> str:
        return f"<MessageMeter sent={self.sent}>"
