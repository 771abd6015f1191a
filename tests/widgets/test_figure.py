"""SharedFigure: plotly's FigureWidget with nexus_nb's page loader (run in the browser tests)."""

from __future__ import annotations

from pathlib import Path

import plotly
import plotly.graph_objects as go

from nexus_nb.widgets.figure import SharedFigure

BUNDLE = Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"


def test_a_shared_figure_keeps_plotlys_python_api() -> None:
    figure = SharedFigure(data=[go.Scatter(x=[1, 2], y=[3, 4])])
    try:
        assert isinstance(figure, go.FigureWidget)
        with figure.batch_update():
            figure.data[0].y = [5, 6]
        assert list(figure.data[0].y) == [5, 6]
    finally:
        figure.close()


def test_its_page_code_is_the_small_loader_and_plotlys_module_travels_as_state() -> None:
    figure = SharedFigure()
    try:
        state = figure.get_state()
        assert len(state["_esm"]) < 10_000  # plotly's own is about 5 MB
        assert "export default" in state["_esm"]
        assert state["_nnb_plotly_bundle"] == BUNDLE.read_text(encoding="utf-8")
        assert state["_nnb_plotly_version"] == plotly.__version__
    finally:
        figure.close()
