"""What every live view shares: a place on a frame clock, a rate cap, a message meter."""

from __future__ import annotations

from abc import ABC, abstractmethod

from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.meter import MessageMeter
from nexus_nb.widgets.owner import default_clock, owned

__all__ = ["LiveView"]


class LiveView(ABC):
    """Base of :class:`LivePlot`, :class:`LiveTable` and :class:`StatusBar`.

    Subclasses build their parts (counting into :attr:`meter`), then call
    :meth:`_join_clock`; they implement ``pending``, ``render`` and
    ``show_error`` for the clock, and call :meth:`_leave_clock` from ``close``.

    Args:
        fps: This view's own frame-rate cap, or ``None`` for the clock's.
        clock: The frame clock; default the shared one in a kernel (its thread
            owns the view's widgets), and none elsewhere (then call ``render()``
            yourself).
    """

    def __init__(self, *, fps: float | None, clock: FrameClock | None) -> None:
        self._fps = fps
        self._paused = False
        self._closed = False
        self.meter = MessageMeter()
        self.clock = clock

    def _join_clock(self) -> None:
        if self.clock is None:
            self.clock = default_clock()
        if self.clock is None:
            return  # Not in a kernel: render on demand only.
        self.clock.register(self)

    def _leave_clock(self) -> None:
        self._closed = True
        if self.clock is not None:
            self.clock.unregister(self)

    @property
    def fps(self) -> float | None:
        """This view's frame-rate cap, or ``None`` for the clock's."""
        return self._fps

    @property
    def messages_sent(self) -> int:
        """Widget messages this view's widgets have sent."""
        return self.meter.sent

    @property
    def paused(self) -> bool:
        """Whether frames are suspended (the source keeps buffering)."""
        return self._paused

    @owned
    def pause(self) -> None:
        """Stop drawing frames until :meth:`resume`."""
        self._paused = True

    @owned
    def resume(self) -> None:
        """Draw frames again; the next frame catches up with what was buffered."""
        self._paused = False

    def _catch_up(self) -> None:
        """Draw a frame now while open (for a snapshot); a failing frame shows its error."""
        if self._closed:
            return
        try:
            self.render()
        except Exception as exc:
            self.show_error(exc)

    @abstractmethod
    def pending(self) -> bool:
        """Whether a frame would show something new (displayed, not paused, data changed)."""

    @abstractmethod
    def render(self) -> None:
        """Draw one frame now."""

    @abstractmethod
    def show_error(self, error: BaseException | None) -> None:
        """Show the error of the last frame on the widget (``None`` clears it)."""
