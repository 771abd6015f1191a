"""Who touches a view's widgets: the frame clock's thread, and how other threads reach it.

In a kernel every view belongs to the shared :class:`~nexus_nb.widgets.FrameClock`,
which ticks on a thread of its own. Three things cross onto that thread, all
through the clock's two hand-offs (``loop.call_soon_threadsafe`` underneath):

* **Building a view.** ``LivePlot(...)`` in a cell runs the whole constructor
  on the clock's thread (:class:`Owned`, the views' metaclass) and returns the
  view when it is built, so its widgets are never touched by two threads.
* **Calling a view.** Its public methods (``zoom``, ``follow``, ``close``,
  ``to_html``...) are marked :func:`owned`: from another thread they run on the
  clock's, and the caller waits for the result.
* **A message from the page.** JupyterLab 4.4+ with ipykernel 7 delivers widget
  messages on kernel subshell threads, older set-ups on the main thread, marimo
  on its kernel's. A view's :class:`~nexus_nb.widgets.surface.Surface` takes
  every message from its comm (``comm.on_msg``) and hands it to the clock's
  thread before anything reads it, so clicks, zooms and edits all run there, in
  the order the page sent them.

Outside a kernel (tests, scripts) a view has no clock unless given one, and is
owned by whoever calls it.
"""

from __future__ import annotations

import functools
import sys
from abc import ABCMeta
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from nexus_nb.widgets.clock import FrameClock

__all__ = ["Owned", "default_clock", "owned"]

F = TypeVar("F", bound=Callable[..., Any])


class HasClock(Protocol):
    """An object whose widgets belong to ``clock`` (``None``: to whoever calls it)."""

    clock: FrameClock | None


def default_clock() -> FrameClock | None:
    """The shared clock inside a Jupyter kernel or a marimo notebook, else ``None``.

    Only a front-end can show a widget; elsewhere views render on demand.
    """
    marimo = sys.modules.get("marimo")
    if marimo is not None and marimo.running_in_notebook():
        return FrameClock.shared()
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipywidgets depends on IPython
        return None
    shell = get_ipython()
    if getattr(shell, "kernel", None) is None:
        return None
    return FrameClock.shared()


def owned(method: F) -> F:
    """Run ``method`` on the thread that owns ``self``'s widgets (see the module docstring)."""

    @functools.wraps(method)
    def run(self: HasClock, /, *args: Any, **kwargs: Any) -> Any:
        clock = self.clock
        if clock is None or clock.owns():
            return method(self, *args, **kwargs)
        return clock.call(lambda: method(self, *args, **kwargs))

    return cast(F, run)


class Owned(ABCMeta):
    """Metaclass of the views: the constructor runs on the owning clock's thread.

    The clock is the ``clock`` keyword if given, else :func:`default_clock`.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        clock = kwargs.get("clock") or default_clock()
        build = super().__call__
        if clock is None:
            return build(*args, **kwargs)
        # Resolved here, on the caller's thread: on the clock's thread a front-end
        # may not be visible (marimo's runtime context is per thread).
        kwargs["clock"] = clock
        return clock.call(lambda: build(*args, **kwargs))
