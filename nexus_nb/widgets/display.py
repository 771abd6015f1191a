"""How a view shows itself: a live widget with a static fallback, and its last frame once closed.

A view is shown through one :class:`~nexus_nb.widgets.surface.Surface` (an
anywidget), built the first time it is displayed or its :attr:`~Displayable.widget`
is asked for, on the thread that asks (marimo binds a widget to its cell's
thread). A view is displayed as one bundle holding the widget view and a self-contained
``text/html`` snapshot. Front-ends with a widget manager show the widget;
nbconvert without widget state, GitHub and other static renderers show the
snapshot. Each display gets a display id, so that :meth:`Displayable._freeze`
(called on close) can replace the widget in every place it was shown with its
last frame: a closed view never leaves an empty output behind.
"""

from __future__ import annotations

import threading
import weakref
from abc import abstractmethod
from collections import deque
from collections.abc import Sequence
from typing import Any

from IPython.display import display

from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.owner import Owned
from nexus_nb.widgets.surface import Part, Surface, on_owner

__all__ = ["Displayable", "close_displayed"]

#: Displays remembered per object; older ones are not frozen on close (counted).
MAX_DISPLAYS = 16

_shown: weakref.WeakSet[Displayable] = weakref.WeakSet()
_BUILDING = threading.Lock()


def close_displayed() -> int:
    """Close every displayed, still open view, leaving its last frame where it was shown.

    What an export runs after the notebook's last cell, so that the saved
    outputs hold each view's final picture instead of a widget. Returns how
    many were closed.
    """
    views = [view for view in list(_shown) if not view._closed]
    for view in views:
        view.close()
    return len(views)


class Displayable(metaclass=Owned):
    """Base of the displayable nexus_nb objects (views, controls, the dashboard).

    Subclasses provide :meth:`_parts` (what their surface draws), :meth:`to_html`
    and a ``_closed`` flag, and call :meth:`_freeze` then :meth:`_close_surface`
    from ``close``.
    """

    #: The clock whose thread owns the view (``None``: whoever calls).
    clock: FrameClock | None = None

    _closed: bool = False
    _surface: Surface | None = None
    _handles: deque[Any] | None = None
    #: Displays beyond :data:`MAX_DISPLAYS`, whose places keep the dead widget on close.
    displays_forgotten: int = 0

    @abstractmethod
    def _parts(self) -> Sequence[Part]:
        """What this object's surface draws, top to bottom."""

    @abstractmethod
    def close(self) -> None:
        """Stop, freeze the displays (:meth:`_freeze`) and close the widget."""

    @abstractmethod
    def to_html(self) -> str:
        """The current frame as self-contained HTML (no scripts, no network)."""

    @property
    def widget(self) -> Surface:
        """The anywidget that shows this object live (built on first use, by the calling thread).

        Display the object itself rather than this, so that a closed view
        leaves its last frame; use it to place a view in another layout.
        """
        with _BUILDING:
            if self._surface is None:
                self._surface = Surface(self._parts(), clock=self.clock)
            return self._surface

    def _close_surface(self) -> None:
        if self._surface is not None:
            self._surface.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        widget = None if self._closed else self.widget
        if widget is not None:
            widget.displayed = True
            _shown.add(self)
        return on_owner(self.clock, lambda: self._bundle(widget, kwargs))

    def _bundle(self, widget: Surface | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": repr(self)}
        if widget is not None and not self._closed:
            shown: Any = widget._repr_mimebundle_(**kwargs) or {}
            # The display protocol allows (data, metadata); anywidget answers so.
            bundle.update(shown[0] if isinstance(shown, tuple) else shown)
        bundle["text/html"] = self.to_html()
        return bundle

    def _display_(self) -> Any:
        """What marimo shows: the live widget (an anywidget), or the last frame once closed."""
        if self._closed:
            from IPython.display import HTML

            return HTML(self.to_html())  # type: ignore[no-untyped-call]
        widget = self.widget
        widget.displayed = True
        return widget

    def _ipython_display_(self) -> None:
        handle = display(self._repr_mimebundle_(), raw=True, display_id=True)  # type: ignore[no-untyped-call]
        if handle is None:
            return
        if self._handles is None:
            self._handles = deque(maxlen=MAX_DISPLAYS)
        if len(self._handles) == MAX_DISPLAYS:
            self.displays_forgotten += 1
        self._handles.append(handle)

    def _freeze(self) -> None:
        """Replace every remembered display with the last frame, without the widget."""
        if not self._handles:
            return
        bundle = {"text/plain": repr(self), "text/html": self.to_html()}
        for handle in self._handles:
            handle.update(bundle, raw=True)
        self._handles.clear()
