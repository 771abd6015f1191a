"""FigurePart and the Surface protocol: keyframes, deltas, sync, sight, plotly.js on request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly
import plotly.graph_objects as go

from nexus_nb.widgets.figure import FigurePart
from nexus_nb.widgets.meter import MessageMeter
from nexus_nb.widgets.surface import MAX_VIEWS, Surface, plotly_js
from nexus_nb.widgets.testing import RecordingComm, record_messages, send_from_page


def _numbers(ref: Any, buffers: Sequence[memoryview]) -> list[Any]:
    if isinstance(ref, int):
        return list(np.frombuffer(buffers[ref], dtype=np.float64).tolist())
    return list(ref)


class _Page:
    """What surface.js keeps of one part: it applies frames as ``applyFrame`` does."""

    def __init__(self) -> None:
        self.rev: int | None = None
        self.layout: dict[str, Any] = {}
        self.traces: list[dict[str, Any]] = []
        self.data: list[tuple[list[Any], list[Any]] | None] = []
        self.bar: dict[str, Any] = {}
        self.asked = 0

    def apply(self, frame: dict[str, Any], buffers: Sequence[memoryview]) -> None:
        if frame["base"] is None:
            self.layout, self.data = {}, []
        elif frame["base"] != self.rev:
            self.asked += 1  # the page asks for a keyframe ({"t": "sync"})
            return
        self.rev = frame["rev"]
        self.traces = frame.get("traces", self.traces)
        self.bar = frame.get("bar", self.bar)
        self.layout.update(frame.get("layout", {}))
        for key in frame.get("layout_drop", []):
            del self.layout[key]
        if "count" in frame:
            self.data = (self.data + [None] * frame["count"])[: frame["count"]]
        for index, x, y in frame.get("data", []):
            self.data[index] = (_numbers(x, buffers), _numbers(y, buffers))

    def holds(self) -> tuple[Any, ...]:
        return self.layout, self.traces, self.data, self.bar


def _figure() -> go.Figure:
    return go.Figure(
        [
            go.Scatter(x=np.array([1.0, 2.0]), y=np.array([3.0, 4.0]), name="a"),
            go.Scatter(x=np.array([1.0, 2.0]), y=np.array([5.0, 6.0]), name="b"),
        ],
        layout={"title": {"text": "cpu"}, "template": "plotly_white"},
    )


def _shown(figure: go.Figure | None = None) -> tuple[FigurePart, Surface, RecordingComm]:
    part = FigurePart(figure if figure is not None else _figure(), config={"displaylogo": False})
    surface = Surface([part], clock=None)
    return part, surface, record_messages(surface)


def _keyframe(surface: Surface, rec: RecordingComm) -> tuple[dict[str, Any], list[memoryview]]:
    rec.clear()
    send_from_page(surface, {"t": "sync", "part": 0})
    [(frame, buffers)] = rec.frames
    return frame, buffers


def test_a_keyframe_holds_everything_with_numbers_as_binary() -> None:
    part, surface, rec = _shown()
    part.bar = {"button": "pause", "note": ""}
    frame, buffers = _keyframe(surface, rec)
    assert frame["base"] is None
    assert frame["kind"] == "plot"
    assert frame["part"] == 0
    assert frame["layout"]["title"] == {"text": "cpu"}
    assert "template" in frame["layout"]
    assert [trace["name"] for trace in frame["traces"]] == ["a", "b"]
    assert all("x" not in trace and "y" not in trace for trace in frame["traces"])
    assert frame["count"] == 2
    assert frame["config"] == {"displaylogo": False}
    assert frame["bar"] == {"button": "pause", "note": ""}
    assert len(buffers) == 4
    [[i0, x0, y0], [i1, x1, y1]] = frame["data"]
    assert (i0, i1) == (0, 1)
    assert all(isinstance(ref, int) for ref in (x0, y0, x1, y1))
    assert np.frombuffer(buffers[y1], dtype=np.float64).tolist() == [5.0, 6.0]


def test_the_widget_state_holds_every_parts_keyframe_for_a_new_page_view() -> None:
    part, surface, _ = _shown()
    part.figure.data[0].y = np.array([7.0, 8.0])
    part.publish()
    [state] = surface.get_state()["parts"]
    assert state["frame"]["base"] is None
    assert state["frame"]["rev"] == part.rev
    [[_, _, y], _] = state["frame"]["data"]
    assert _numbers(y, state["buffers"]) == [7.0, 8.0]
    assert "parts" not in surface.get_state("_esm")


def test_a_frame_after_a_keyframe_sends_only_what_changed() -> None:
    part, _, rec = _shown()
    rec.clear()
    part.figure.layout.xaxis.range = [1.5, 2.0]
    assert part.publish()
    [(frame, buffers)] = rec.frames
    assert set(frame["layout"]) == {"xaxis"}  # a moved range, never the template
    assert frame["layout"]["xaxis"] == {"range": [1.5, 2.0]}
    assert "traces" not in frame
    assert "data" not in frame
    assert buffers == []
    rec.clear()
    part.figure.data[1].y = np.array([9.0, 9.5])
    part.publish()
    [(frame, buffers)] = rec.frames
    assert set(frame) == {"t", "part", "rev", "base", "data"}
    [[index, _, y]] = frame["data"]
    assert index == 1
    assert _numbers(y, buffers) == [9.0, 9.5]


def test_a_frame_with_a_changed_style_sends_every_trace_style_without_arrays() -> None:
    part, _, rec = _shown()
    rec.clear()
    part.figure.data[0].line.color = "red"
    part.publish()
    [(frame, _)] = rec.frames
    assert frame["traces"][0]["line"] == {"color": "red"}
    assert frame["count"] == 2
    assert "data" not in frame


def test_added_traces_and_a_dropped_layout_entry_reach_the_page() -> None:
    part, _, rec = _shown()
    rec.clear()
    part.figure.add_trace(go.Scatter(x=np.array([0.0]), y=np.array([1.0]), name="c"))
    part.figure.layout.title = None
    part.publish()
    [(frame, _)] = rec.frames
    assert frame["count"] == 3
    assert [index for index, _, _ in frame["data"]] == [2]
    assert frame["layout_drop"] == ["title"]


def test_nothing_is_sent_when_nothing_changed() -> None:
    part, _, rec = _shown()
    rec.clear()
    assert not part.publish()
    part.figure.data[0].y = part.figure.data[0].y  # the same array again
    assert not part.publish()
    assert rec.messages == []


def test_a_trace_given_as_lists_is_not_sent_again_while_unchanged() -> None:
    figure = go.Figure([go.Bar(x=["web", "db"], y=[1.0, 2.0])])
    part, _, rec = _shown(figure)
    rec.clear()
    assert not part.publish()
    assert rec.messages == []


def test_a_page_applying_every_frame_holds_what_a_keyframe_holds() -> None:
    part, surface, rec = _shown()
    page = _Page()
    opening = surface.get_state()["parts"][0]
    page.apply(opening["frame"], opening["buffers"])
    rng = np.random.default_rng(2)
    for step in range(20):
        rec.clear()
        figure = part.figure
        if step % 3 == 0:
            figure.data[step % 2].y = rng.random(3)
            figure.data[step % 2].x = np.arange(3.0)
        if step % 4 == 1:
            figure.layout.xaxis.range = [step, step + 1]
        if step % 5 == 2:
            figure.add_trace(go.Scatter(x=[float(step)], y=[1.0], name=f"t{step}"))
        if step == 7:
            figure.layout.title = None
        part.bar = {"note": f"step {step}"}
        part.publish()
        for frame, buffers in rec.frames:
            page.apply(frame, buffers)
    assert page.asked == 0
    fresh = _Page()
    fresh.apply(*_keyframe(surface, rec))
    assert page.rev == fresh.rev == part.rev
    assert page.holds() == fresh.holds()


def test_a_page_that_missed_a_frame_asks_for_sync_and_the_keyframe_repairs_it() -> None:
    part, surface, rec = _shown()
    page = _Page()
    opening = surface.get_state()["parts"][0]
    page.apply(opening["frame"], opening["buffers"])
    part.figure.data[0].y = np.array([0.0, 0.5])
    part.publish()  # lost on the way
    rec.clear()
    part.figure.data[1].y = np.array([1.0, 1.5])
    part.publish()
    [(frame, buffers)] = rec.frames
    page.apply(frame, buffers)
    assert page.asked == 1  # at the wrong revision: the frame is not applied
    keyframe, buffers = _keyframe(surface, rec)
    page.apply(keyframe, buffers)
    assert page.rev == part.rev
    assert page.data == [([1.0, 2.0], [0.0, 0.5]), ([1.0, 2.0], [1.0, 1.5])]


def test_request_state_is_answered_with_the_state_and_every_part() -> None:
    _, surface, rec = _shown()
    rec.clear()
    surface.receive({"content": {"data": {"method": "request_state"}}})
    [message] = rec.messages
    assert message["method"] == "update"
    assert "parts" in message["state"]
    assert message["buffer_paths"]  # the parts' numbers travel as buffers
    assert surface.sent >= 1


def test_a_page_asking_for_plotly_gets_plotly_js_as_one_buffer() -> None:
    _, surface, rec = _shown()
    rec.clear()
    send_from_page(surface, {"t": "plotly"})
    [message] = rec.messages
    assert message["content"] == {"t": "plotly", "version": plotly.__version__}
    [buffer] = rec.buffers[0]
    assert bytes(buffer) == plotly_js()
    assert rec.frames == []


def test_a_page_asking_for_plotly_again_at_once_is_refused_and_counted() -> None:
    _, surface, rec = _shown()
    rec.clear()
    for _ in range(5):
        send_from_page(surface, {"t": "plotly"})
    assert len(rec.messages) == 1  # 4.6 MB once, however often a page asks
    assert surface.refused == 4


def test_a_part_is_shown_until_its_views_report_then_while_any_of_them_has_it_in_sight() -> None:
    part = FigurePart(_figure())
    assert not part.shown  # not on a surface
    surface = Surface([part], clock=None)
    assert not part.shown  # not displayed
    surface.displayed = True
    assert part.shown  # no page has reported: assume someone looks

    def report(view: str, sight: bool | None) -> None:
        send_from_page(surface, {"t": "sight", "view": view, "part": 0, "sight": sight})

    report("a", False)
    assert not part.shown
    report("b", True)
    assert part.shown
    report("b", None)  # view b was removed
    assert not part.shown
    report("a", None)
    assert not part.shown  # every view removed (its cell ran again): nobody looks
    report("c", True)
    assert part.shown
    send_from_page(surface, {"t": "sight", "view": "c", "part": 5, "sight": False})  # no part 5
    send_from_page(surface, {"other": 1})  # not ours: ignored
    assert part.shown


def test_a_part_remembers_a_bounded_number_of_views() -> None:
    part, surface, _ = _shown()
    for i in range(MAX_VIEWS + 10):
        send_from_page(surface, {"t": "sight", "view": f"v{i}", "part": 0, "sight": False})
    assert len(part._sight) == MAX_VIEWS
    assert "v0" not in part._sight
    assert f"v{MAX_VIEWS + 9}" in part._sight
    assert not part.shown


def test_page_events_go_to_the_part_and_frames_are_counted_on_its_meter() -> None:
    events: list[dict[str, Any]] = []
    meter = MessageMeter()
    part = FigurePart(_figure(), on_event=events.append, meter=meter)
    surface = Surface([part], clock=None)
    rec = record_messages(surface)
    send_from_page(surface, {"t": "event", "part": 0, "relayout": {"autorange": True}})
    assert events == [{"t": "event", "part": 0, "relayout": {"autorange": True}}]
    part.figure.data[0].y = np.array([0.0, 0.0])
    part.publish()
    assert meter.sent == len(rec.frames) == 1


def test_a_closed_surface_sends_nothing() -> None:
    part, surface, rec = _shown()
    surface.close()
    rec.clear()
    part.figure.data[0].y = np.array([0.0, 0.0])
    assert part.publish()  # the figure changed; nobody is sent it
    send_from_page(surface, {"t": "sync", "part": 0})
    send_from_page(surface, {"t": "plotly"})
    assert rec.messages == []
    assert part.surface is None
    assert not part.shown
