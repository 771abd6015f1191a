"""SharedFigure: plotly's FigureWidget with nexus_nb's page loader (run in the browser tests)."""

from __future__ import annotations

from pathlib import Path

import plotly
import plotly.graph_objects as go

from nexus_nb.widgets.figure import MAX_VIEWS, SharedFigure

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


def _report(figure: SharedFigure, view: str, sight: bool | None) -> None:
    figure._handle_custom_msg({"nnb_sight": sight, "view": view}, [])


def test_a_figure_is_in_sight_until_its_views_report_and_while_any_of_them_is() -> None:
    figure = SharedFigure()
    try:
        assert figure.in_sight  # no page has reported: assume someone looks
        _report(figure, "a", False)
        assert not figure.in_sight
        _report(figure, "b", True)
        assert figure.in_sight
        _report(figure, "b", None)  # view b was removed
        assert not figure.in_sight
        _report(figure, "a", None)
        assert figure.in_sight
        figure._handle_custom_msg({"other": 1}, [])  # not ours: ignored
        assert figure.in_sight
    finally:
        figure.close()


def test_a_figure_remembers_a_bounded_number_of_views() -> None:
    figure = SharedFigure()
    try:
        for i in range(MAX_VIEWS + 10):
            _report(figure, f"v{i}", False)
        assert len(figure._nnb_sight) == MAX_VIEWS
        assert "v0" not in figure._nnb_sight
        assert f"v{MAX_VIEWS + 9}" in figure._nnb_sight
        assert not figure.in_sight
    finally:
        figure.close()
