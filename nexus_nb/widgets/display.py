"""How a view shows itself: a live widget with a static fallback, and its last frame once closed.

A view is displayed as one bundle holding the widget view and a self-contained
``text/html`` snapshot. Front-ends with a widget manager show the widget;
nbconvert without widget state, GitHub and other static renderers show the
snapshot. Each display gets a display id, so that :meth:`Displayable._freeze`
(called on close) can replace the widget in every place it was shown with its
last frame: a closed view never leaves an empty output behind.
"""

from __future__ import annotations

import weakref
from abc import abstractmethod
from collections import deque
from typing import Any

from IPython.display import display

from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.owner import Owned, owned

__all__ = ["Displayable", "close_displayed"]

#: Displays remembered per object; older ones are not frozen on close (counted).
MAX_DISPLAYS = 16

_shown: weakref.WeakSet[Displayable] = weakref.WeakSet()


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

    Subclasses provide ``widget`` (the ipywidgets widget that shows them live),
    :meth:`to_html` and a ``_closed`` flag, and call :meth:`_freeze` from
    ``close`` before closing their widgets.
    """

    widget: Any
    #: The clock whose thread owns the widgets (``None``: whoever calls).
    clock: FrameClock | None = None

    _closed: bool = False
    _handles: deque[Any] | None = None
    #: Displays beyond :data:`MAX_DISPLAYS`, whose places keep the dead widget on close.
    displays_forgotten: int = 0

    @abstractmethod
    def close(self) -> None:
        """Stop, freeze the displays (:meth:`_freeze`) and close the widgets."""

    @abstractmethod
    def to_html(self) -> str:
        """The current frame as self-contained HTML (no scripts, no network)."""

    @owned
    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": repr(self)}
        if not self._closed:
            bundle.update(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = self.to_html()
        return bundle

    def _displayed(self) -> None:
        """Hook: the object is being displayed in an output (default: nothing)."""

    @owned
    def _display_bundle(self) -> dict[str, Any]:
        self._displayed()
        return self._repr_mimebundle_()

    def _ipython_display_(self) -> None:
        # Built on the owner's thread, shown from the caller's: the output goes to its cell.
        handle = display(self._display_bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]
        if handle is None:
            return
        if self._handles is None:
            self._handles = deque(maxlen=MAX_DISPLAYS)
        if len(self._handles) == MAX_DISPLAYS:
            self.displays_forgotten += 1
        self._handles.append(handle)
        _shown.add(self)

    def _freeze(self) -> None:
        """Replace every remembered display with the last frame, without the widget."""
        if not self._handles:
            return
        bundle = {"text/plain": repr(self), "text/html": self.to_html()}
        for handle in self._handles:
            handle.update(bundle, raw=True)
        self._handles.clear()
