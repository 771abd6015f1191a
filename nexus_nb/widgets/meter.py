"""Counting what widgets send to the front-end, at the one place every message passes.

Every ipywidgets message (plotly's ``FigureWidget`` included) leaves through
``Widget._send``; the subclasses here count there, so the frame clock budgets
real messages, including the ones plotly sends on its own (edit ids, the
``None`` resets after each update, replies to the browser's echoes).
"""

from __future__ import annotations

from typing import Any

import ipywidgets

from nexus_nb.widgets.figure import SharedFigure

__all__ = ["MessageMeter", "MeteredBox", "MeteredFigure", "MeteredHTML", "Rate"]


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


class MeteredFigure(SharedFigure):
    """A :class:`SharedFigure` (a plotly ``FigureWidget``) that counts its messages into a meter."""

    _nnb_meter: MessageMeter | None = None

    def _send(self, msg: Any, buffers: Any = None) -> None:
        if self._nnb_meter is not None:
            self._nnb_meter.sent += 1
        super()._send(msg, buffers)


class MeteredHTML(ipywidgets.HTML):  # type: ignore[misc]
    """An ipywidgets ``HTML`` that counts the messages it sends into a meter."""

    _nnb_meter: MessageMeter | None = None

    def _send(self, msg: Any, buffers: Any = None) -> None:
        if self._nnb_meter is not None:
            self._nnb_meter.sent += 1
        super()._send(msg, buffers)


class MeteredBox(ipywidgets.VBox):  # type: ignore[misc]
    """An ipywidgets ``VBox`` that counts the messages it sends into a meter."""

    _nnb_meter: MessageMeter | None = None

    def _send(self, msg: Any, buffers: Any = None) -> None:
        if self._nnb_meter is not None:
            self._nnb_meter.sent += 1
        super()._send(msg, buffers)
