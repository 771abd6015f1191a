"""What every live view shares: a place on a frame clock, a rate cap, a message meter."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.meter import MessageMeter
from nexus_nb.widgets.owner import default_clock, owned

__all__ = ["LiveView", "ViewCount"]


class ViewCount:
    """Whether a widget is shown in a page, from ipywidgets' view counting.

    Frames are skipped while no page shows the widget. But a page's first count
    can be lost: Voila (and a page reconnecting) builds its views before its
    kernel connection is up, and the count it sends then never arrives, so a
    shown widget would look hidden forever. So once the widget was displayed
    from the kernel (:meth:`mark_displayed`) and until some page has reported a
    view, it counts as shown; once one has, the count decides.

    Args:
        widget: The widget to count views of (opted in to counting here).
        on_new_view: Called when a page adds a view (e.g. to resend everything).
    """

    def __init__(self, widget: Any, on_new_view: Callable[[], None] | None = None) -> None:
        self.widget = widget
        self.reported = False
        self.displayed = False
        self._on_new_view = on_new_view
        widget._view_count = 0
        widget.observe(self._changed, names="_view_count")

    def _changed(self, change: Mapping[str, Any]) -> None:
        if (change["new"] or 0) > (change["old"] or 0):
            self.reported = True
            if self._on_new_view is not None:
                self._on_new_view()

    def mark_displayed(self) -> None:
        """The kernel displayed the widget (or a layout holding it) in an output."""
        self.displayed = True

    @property
    def shown(self) -> bool:
        """Whether a page shows the widget, as far as the kernel can know."""
        count = self.widget._view_count
        return count is None or count > 0 or (self.displayed and not self.reported)


class LiveView(ABC):
    """Base of :class:`LivePlot`, :class:`LiveTable` and :class:`StatusBar`.

    Subclasses build their widgets (wiring them to :attr:`meter`), then call
    :meth:`_join_clock`; they implement ``pending``, ``render`` and
    ``show_error`` for the clock, and call :meth:`_leave_clock` from ``close``.

    Args:
        fps: This view's own frame-rate cap, or ``None`` for the clock's.
        clock: The frame clock; default the shared one in a kernel (its thread
            owns the view's widgets), and none elsewhere (then call ``render()``
            yourself).
    """

    #: How a subclass with a widget counts the pages showing it (``None``: no widget).
    _views: ViewCount | None = None

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

    def _displayed(self) -> None:
        """The kernel is displaying this view (or a layout holding it) in an output."""
        if self._views is not None:
            self._views.mark_displayed()

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
