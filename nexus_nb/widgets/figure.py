"""A plotly ``FigureWidget`` whose page code loads plotly once per page and stays quiet.

plotly's widget ships its 5 MB module as the anywidget code of every figure, so
a page evaluates it once per figure, and anywidget drops every message to a
model whose code has not bound within 2 s: on a busy page (Voila, Run All) a
figure then stayed frozen at its saved state. :class:`SharedFigure` keeps
plotly's widget (the same Python API and page model) behind a small loader
(``figure.js``) that evaluates the module once per page and binds at once.
Its views also skip the full-state report plotly's views send the kernel after
every update; they still report after their first render and after traces are
added or deleted, which :class:`~nexus_nb.widgets.LivePlot` uses to repair a
page that missed traces. And each view reports when it goes out of sight (scrolled
away, a hidden tab, a collapsed output) and back: :attr:`SharedFigure.in_sight`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly
import plotly.graph_objects as go
import traitlets

__all__ = ["SharedFigure"]

_BUNDLE = Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"
#: Views whose sight a figure remembers; past it the oldest report is forgotten.
MAX_VIEWS = 64


class SharedFigure(go.FigureWidget):  # type: ignore[misc]
    """A ``FigureWidget`` with nexus_nb's page loader (see the module docstring)."""

    _esm = Path(__file__).with_name("figure.js")
    _nnb_plotly_bundle = traitlets.Unicode(_BUNDLE.read_text(encoding="utf-8")).tag(sync=True)
    _nnb_plotly_version = traitlets.Unicode(plotly.__version__).tag(sync=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._nnb_sight: dict[str, bool] = {}
        self.on_msg(self._nnb_on_msg)

    @property
    def in_sight(self) -> bool:
        """Whether a page may be looking at the figure.

        True until a view reports, then while any reporting view is in sight:
        a view out of sight draws nothing, so frames for it are wasted. A page
        that never reports (closed without a word, an older front-end) cannot
        hide the figure from the others.
        """
        return not self._nnb_sight or any(self._nnb_sight.values())

    def _nnb_on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or "nnb_sight" not in content:
            return
        view, sight = str(content.get("view")), content["nnb_sight"]
        self._nnb_sight.pop(view, None)
        if sight is None:
            return  # The view was removed.
        self._nnb_sight[view] = bool(sight)
        while len(self._nnb_sight) > MAX_VIEWS:
            del self._nnb_sight[next(iter(self._nnb_sight))]
