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
page that missed traces.
"""

from __future__ import annotations

from pathlib import Path

import plotly
import plotly.graph_objects as go
import traitlets

__all__ = ["SharedFigure"]

_BUNDLE = Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"


class SharedFigure(go.FigureWidget):  # type: ignore[misc]
    """A ``FigureWidget`` with nexus_nb's page loader (see the module docstring)."""

    _esm = Path(__file__).with_name("figure.js")
    _nnb_plotly_bundle = traitlets.Unicode(_BUNDLE.read_text(encoding="utf-8")).tag(sync=True)
    _nnb_plotly_version = traitlets.Unicode(plotly.__version__).tag(sync=True)
