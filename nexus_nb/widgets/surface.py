"""The one anywidget every view is shown through, and the small protocol it speaks.

A view (a plot, a table, the status bar, the controls, a whole dashboard) is
shown through one :class:`Surface`: an ``anywidget.AnyWidget`` whose page code
(``surface.js``, a plain ES module) draws a column of *parts*. A part is the
kernel's side of one drawn thing (:class:`Part`): it has a full state, and it
sends frames that say only what changed since its previous frame. anywidget
runs wherever a Jupyter widget manager runs (JupyterLab, Notebook 7, Voila,
VS Code, Colab) and in marimo, which renders anywidgets but no classic
ipywidgets; a surface uses no other widget and no private name of ipywidgets
or anywidget.

**The protocol** (custom widget messages; content is JSON, numbers go as
binary buffers):

kernel to page
    ``{"t": "frame", "part": i, "rev": r, "base": b, ...}``: part ``i`` moves
    from revision ``b`` to ``r``; the rest is the part's own delta (see each
    part). ``base`` is ``None`` on a keyframe (the whole state), which a page
    applies whatever it holds. A page whose part is not at ``b`` (it missed a
    message: a model built late, a page reloading) ignores the frame and asks
    for a keyframe. ``{"t": "plotly", "version": v}`` carries plotly.js (one
    buffer), sent to a page that asked for it.
page to kernel
    ``{"t": "sight", "view": id, "part": i, "sight": bool | None}`` when a
    drawn part comes into sight or leaves it (``None``: removed);
    ``{"t": "sync", "part": i}`` asks for a keyframe; ``{"t": "plotly"}`` asks
    for plotly.js, once per page; ``{"t": "event", "part": i, ...}`` is a
    click, a zoom, a tick or a typed filter, for the part to handle.

The widget's state (``get_state``: what a page builds a new view from, on
first display, on reload, in a second tab or in Voila) holds every part's full
state, so a page never depends on having seen earlier frames.

**Threads.** A surface is built on the thread that displays it (marimo binds a
widget to its cell's thread) from a state taken on the owner's thread, then
belongs to its :class:`~nexus_nb.widgets.FrameClock`: every frame is sent
there, and every page message is handed there (:meth:`FrameClock.post`)
before anything reads it.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import anywidget
import numpy as np
import plotly

from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.meter import MessageMeter

__all__ = ["MAX_VIEWS", "PLOTLY_EVERY", "Part", "Surface", "pack", "plotly_js"]

T = TypeVar("T")
#: Page views whose sight a part remembers; past it the oldest report is forgotten.
MAX_VIEWS = 64
#: Seconds between two answers of one surface to a page asking for plotly.js.
PLOTLY_EVERY = 1.0
_PLOTLY = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
_PLOTLY_LOCK = threading.Lock()
_plotly_js: bytes | None = None


def plotly_js() -> bytes:
    """plotly.js as the installed plotly package ships it (read once, ~4.6 MB)."""
    global _plotly_js
    with _PLOTLY_LOCK:
        if _plotly_js is None:
            _plotly_js = _PLOTLY.read_bytes()
        return _plotly_js


def pack(values: Any, buffers: list[memoryview]) -> Any:
    """``values`` for a message: numbers as a new binary buffer (its index), else a list.

    Float64 arrays travel as raw bytes (a ``Float64Array`` in the page); text
    (bar categories) as a JSON list.
    """
    array = np.asarray(values) if values is not None else np.empty(0)
    if array.dtype.kind in "fiub":
        numbers: Any = np.ascontiguousarray(array, dtype=np.float64)
        buffers.append(memoryview(numbers).cast("B"))
        return len(buffers) - 1
    return [None if v is None else str(v) for v in array.tolist()]


def on_owner(clock: FrameClock | None, fn: Callable[[], T]) -> T:
    """Run ``fn`` on ``clock``'s thread (here if this is it, or there is no clock)."""
    if clock is None or clock.owns():
        return fn()
    return clock.call(fn)


class Part(ABC):
    """The kernel's side of one thing a surface draws (a plot, an HTML block, the controls).

    A subclass says what its full state is (:meth:`state`) and sends deltas
    with :meth:`send`; page events come to :meth:`on_event`. Everything runs on
    the owner's thread.
    """

    #: What the page draws this part as: ``"plot"``, ``"html"`` or ``"controls"``.
    kind: ClassVar[str]

    def __init__(self, meter: MessageMeter | None = None) -> None:
        #: Counts this part's frames (its view's meter: the clock budgets by it).
        self.meter = meter
        self.surface: Surface | None = None
        self.index = 0
        self.rev = 0
        self._sight: dict[str, bool] = {}
        self._reported = False

    @abstractmethod
    def state(self, buffers: list[memoryview]) -> dict[str, Any]:
        """The whole part, for a keyframe (numbers appended to ``buffers``, see :func:`pack`)."""

    def on_event(self, content: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """A click, zoom or edit in the page (default: ignored)."""

    def send(self, delta: dict[str, Any], buffers: Sequence[memoryview] = ()) -> None:
        """Send one frame: ``delta`` moves the page's copy to the next revision."""
        base, self.rev = self.rev, self.rev + 1
        surface = self.surface
        sent = surface is not None and surface.send_frame(self, {**delta, "base": base}, buffers)
        if sent and self.meter is not None:
            self.meter.sent += 1

    def keyframe(self) -> tuple[dict[str, Any], list[memoryview]]:
        """The whole part as a frame the page applies whatever it holds."""
        buffers: list[memoryview] = []
        content = {"t": "frame", "part": self.index, "kind": self.kind, "rev": self.rev}
        content.update(self.state(buffers), base=None)
        return content, buffers

    @property
    def shown(self) -> bool:
        """Whether a page may be looking at this part.

        Once displayed and until a page reports on it, yes (a page's first report
        can be lost: Voila builds its views before its kernel connection is up);
        after that, while any reporting view has it in sight (also when the widget
        was shown inside another layout, not displayed by the kernel). A view out
        of sight (scrolled away, a hidden tab, a collapsed output) draws nothing,
        so frames for it are wasted.
        """
        surface = self.surface
        if surface is None:
            return False
        if not self._reported:
            return surface.displayed
        return any(self._sight.values())

    def _sighted(self, view: str, sight: bool | None) -> None:
        # Once a page has reported, its reports decide: when the last view is
        # removed (a cell run again, Run All), nobody is looking.
        self._reported = True
        self._sight.pop(view, None)
        if sight is None:
            return  # The view was removed.
        self._sight[view] = bool(sight)
        while len(self._sight) > MAX_VIEWS:
            del self._sight[next(iter(self._sight))]


class Surface(anywidget.AnyWidget):
    """The anywidget that draws a column of :class:`Part` objects (see the module docstring).

    Args:
        parts: What it draws, top to bottom.
        clock: The owner: frames are sent and page messages handled on its thread.

    Attributes:
        sent: Messages this surface has sent (frames, keyframes, plotly.js).
        displayed: Whether the kernel displayed it in an output (see :attr:`Part.shown`).
        refused: Requests for plotly.js not answered: at most one is answered per
            :data:`PLOTLY_EVERY` seconds (a page asks once, then every 10 s until
            it has it), so a page cannot make the kernel send 4.6 MB at will.
    """

    _esm = Path(__file__).with_name("surface.js")

    def __init__(self, parts: Sequence[Part], *, clock: FrameClock | None) -> None:
        self._parts = list(parts)
        self._clock = clock
        self.sent = 0
        self.refused = 0
        self.displayed = False
        self._plotly_sent = -math.inf
        self._opening: list[dict[str, Any]] | None = on_owner(clock, self._states)
        super().__init__()
        self._opening = None
        if self.comm is not None:
            self.comm.on_msg(self.receive)
        on_owner(clock, self._attach)

    # -- kernel to page ---------------------------------------------------------

    def _states(self) -> list[dict[str, Any]]:
        states = []
        for index, part in enumerate(self._parts):
            if part.surface is not None and part.surface is not self:
                raise ValueError(
                    f"{type(part).__name__} is already drawn by another widget (a view shown"
                    " in a Dashboard is shown through the Dashboard: display that)"
                )
            part.index = index
            content, buffers = part.keyframe()
            states.append({"frame": content, "buffers": buffers})
        return states

    def _attach(self) -> None:
        for part in self._parts:
            part.surface = self

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        """ipywidgets' state plus ``parts``: every part's keyframe (what a new view builds from)."""
        state: dict[str, Any] = super().get_state(key, drop_defaults)
        keys = [key] if isinstance(key, str) else key
        if keys is None or "parts" in keys:
            state["parts"] = self._opening if self._opening is not None else self._states()
        return state

    def send_frame(self, part: Part, delta: dict[str, Any], buffers: Sequence[memoryview]) -> bool:
        """Send one part's frame (owner's thread); say whether it was sent (open)."""
        content = {"t": "frame", "part": part.index, "rev": part.rev, **delta}
        return self._emit(content, list(buffers))

    def _emit(self, content: dict[str, Any], buffers: list[memoryview]) -> bool:
        if self.comm is None:
            return False
        self.sent += 1
        self.send(content, buffers)
        return True

    # -- page to kernel ---------------------------------------------------------

    def receive(self, msg: dict[str, Any]) -> None:
        """A comm message from the page, on whatever thread delivered it: hand it on."""
        data = (msg.get("content") or {}).get("data") or {}
        if self._clock is None:
            self._handle(data)
        else:
            self._clock.post(functools.partial(self._handle, data))

    def _handle(self, data: dict[str, Any]) -> None:
        """One page message, on the owner's thread (the Jupyter widget message spec)."""
        method = data.get("method")
        if method == "request_state":
            self.sent += 1
            self.send_state()
            return
        content = data.get("content")
        if method != "custom" or not isinstance(content, dict):
            return  # Surfaces take no state from the page: every change is an event.
        kind = content.get("t")
        if kind == "plotly":
            now = time.monotonic()
            if now - self._plotly_sent < PLOTLY_EVERY:
                self.refused += 1
                return
            self._plotly_sent = now
            self._emit({"t": "plotly", "version": plotly.__version__}, [memoryview(plotly_js())])
            return
        part = self._part(content.get("part"))
        if part is None:
            return
        if kind == "sight":
            sight = content.get("sight")
            part._sighted(str(content.get("view")), None if sight is None else bool(sight))
        elif kind == "sync":
            frame, buffers = part.keyframe()
            self._emit(frame, buffers)
        elif kind == "event":
            part.on_event(content)

    def _part(self, index: Any) -> Part | None:
        if isinstance(index, int) and 0 <= index < len(self._parts):
            return self._parts[index]
        return None

    def close(self) -> None:
        """Close the widget; its parts stop sending."""
        for part in self._parts:
            if part.surface is self:
                part.surface = None
        super().close()
