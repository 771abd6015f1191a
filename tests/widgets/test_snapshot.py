"""The static SVG snapshot: well-formed, small, showing every trace, labelled axes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from nexus_nb.widgets.snapshot import SnapshotTrace, plot_svg

SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_700_000_000_000.0  # epoch ms: 2023-11-14 22:13:20 UTC


def _trace(name: str, n: int, row: int = 0, colour: str = "#1f77b4") -> SnapshotTrace:
    x = T0 + np.arange(n, dtype=float) * 10.0
    return SnapshotTrace(name=name, colour=colour, row=row, x=x, y=np.sin(np.arange(n) / 50))


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_each_trace_becomes_a_polyline_in_its_colour_with_a_legend_entry() -> None:
    svg = plot_svg(
        [_trace("server-01", 100), _trace("server-02", 100, colour="#ff7f0e")],
        rows=["value"],
        x_range=None,
        time_axis=True,
        title="telemetry.metrics",
    )
    root = _parse(svg)
    lines = root.findall(f".//{SVG}polyline")
    assert [line.get("stroke") for line in lines] == ["#1f77b4", "#ff7f0e"]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "server-01" in texts
    assert "server-02" in texts
    assert "telemetry.metrics" in texts


def test_a_time_axis_is_labelled_with_utc_times() -> None:
    svg = plot_svg([_trace("a", 1000)], rows=["value"], x_range=None, time_axis=True)
    texts = [t.text or "" for t in _parse(svg).iter(f"{SVG}text")]
    assert any(t.startswith("22:13:") for t in texts), texts


def test_a_million_points_reduce_to_at_most_two_per_pixel_column() -> None:
    svg = plot_svg([_trace("a", 1_000_000)], rows=["value"], x_range=None, time_axis=True)
    (line,) = _parse(svg).findall(f".//{SVG}polyline")
    points = line.get("points", "").split()
    assert 800 <= len(points) <= 2 * 900
    assert len(svg) < 40_000


def test_points_outside_the_range_are_left_out() -> None:
    trace = _trace("a", 1000)
    svg = plot_svg([trace], rows=["value"], x_range=(T0, T0 + 990.0), time_axis=True)
    (line,) = _parse(svg).findall(f".//{SVG}polyline")
    assert len(line.get("points", "").split()) == 100


def test_stacked_rows_each_get_their_traces_and_a_title() -> None:
    svg = plot_svg(
        [_trace("cpu", 50, row=0), _trace("mem", 50, row=1)],
        rows=["cpu", "memory"],
        x_range=None,
        time_axis=False,
    )
    root = _parse(svg)
    assert len(root.findall(f".//{SVG}clipPath")) == 2
    assert "memory" in [t.text for t in root.iter(f"{SVG}text")]


def test_an_empty_plot_says_so_and_names_escape() -> None:
    svg = plot_svg([], rows=["value"], x_range=None, time_axis=True, title="a<b & c")
    texts = [t.text for t in _parse(svg).iter(f"{SVG}text")]
    assert "no data yet" in texts
    assert "a<b & c" in texts
