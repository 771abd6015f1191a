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
  messages on kernel subshell threads, older set-ups on the main thread.
  :func:`route` makes each widget's comm hand the message to the clock's thread
  before ipywidgets reads it, so trait changes, observers, click handlers and
  plotly's own relayout handling all run there, in the order the page sent them.

Outside a kernel (tests, scripts) a view has no clock unless given one, and is
owned by whoever calls it.
"""

from __future__ import annotations

import functools
from abc import ABCMeta
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar, cast

from nexus_nb.widgets.clock import FrameClock

__all__ = ["Owned", "default_clock", "owned", "route"]

F = TypeVar("F", bound=Callable[..., Any])


class HasClock(Protocol):
    """An object whose widgets belong to ``clock`` (``None``: to whoever calls it)."""

    clock: FrameClock | None


def default_clock() -> FrameClock | None:
    """The shared clock when running inside a Jupyter kernel, else ``None``.

    Only a kernel can show a widget; elsewhere views render on demand.
    """
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
    Once built, the view's widgets are :func:`route`-d to that clock.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        clock = kwargs.get("clock") or default_clock()
        build = super().__call__
        if clock is None:
            return build(*args, **kwargs)

        def on_owner() -> Any:
            made = build(*args, **kwargs)
            if made.clock is None:
                made.clock = clock
            route(made.widget, clock)
            return made

        return clock.call(on_owner)


def route(widget: Any, clock: FrameClock) -> None:
    """Hand every page message of ``widget`` and the widgets it holds to ``clock``'s thread.

    Call it on the clock's thread. Each widget's comm gets a handler that posts
    the message to the clock (:meth:`FrameClock.post`), where ipywidgets' own
    handler then reads it. That handler is ``Widget._handle_msg``, a private
    method: ipywidgets has no public way to take over a comm's messages, and
    this is the only private name the routing uses (checked by a test).
    """
    for item in _walk(widget):
        comm = getattr(item, "comm", None)
        if comm is None or comm in clock.routed:
            continue
        clock.routed.add(comm)
        handle = item._handle_msg
        comm.on_msg(lambda msg, handle=handle: clock.post(functools.partial(handle, msg)))


def _walk(widget: Any) -> Iterator[Any]:
    yield widget
    for child in getattr(widget, "children", None) or ():
        yield from _walk(child)
