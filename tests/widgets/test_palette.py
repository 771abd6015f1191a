"""Palette: group colours stable per name across runs, distinct within a plot."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import plotly.colors
import pytest

from nexus_nb.server.demo import SOURCES
from nexus_nb.server.host import HOST_METRICS
from nexus_nb.widgets import LivePlot
from nexus_nb.widgets.palette import CLOSE, Palette, colour_distance, preferred_slot
from nexus_nb.widgets.testing import MemorySource

STOCK = plotly.colors.qualitative.Plotly
# The names the demo and the host sampler put in a plot's color= column; the
# models are the (the demo's four and two more of the same families).
MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "claude-sonnet",
    "claude-haiku",
    "llama-3.1-70b",
    "mistral-large",
)
DEMO_MODELS = ("gpt-4o-mini", "claude-sonnet", "llama-3.1-70b", "mistral-large")
DEMO_METRICS = ("cpu_usage", "memory_usage", "latency_ms", "requests_per_s")
NAME_SETS = {
    "models": MODELS,
    "demo models": DEMO_MODELS,
    "demo metrics": DEMO_METRICS,
    "host metrics": tuple(HOST_METRICS),
    "sources": SOURCES,
}


def _closest(names: tuple[str, ...] | list[str], palette: Palette) -> float:
    colours = [palette.colour(name) for name in names]
    return min(colour_distance(a, b) for a, b in itertools.combinations(colours, 2))


def test_the_stock_palette_alone_gives_demo_names_the_same_colour() -> None:
    # What the issue reported: by hash alone gpt-4o-mini and llama-3.1-70b, and
    # cpu_usage and network_tx, share a colour. The palette must undo exactly this.
    assert preferred_slot("gpt-4o-mini", 10) == preferred_slot("llama-3.1-70b", 10)
    assert preferred_slot("cpu_usage", 10) == preferred_slot("network_tx", 10)


@pytest.mark.parametrize("label", sorted(NAME_SETS))
def test_the_demos_names_get_far_apart_colours_in_whatever_order_they_arrive(label: str) -> None:
    names = NAME_SETS[label]
    # Up to five names, the stock colorway has room for all pairwise beyond CLOSE;
    # six must take one pair of its near colours (purple/magenta at 36 is the worst).
    floor = CLOSE if len(names) <= 5 else 35.0
    for order in itertools.permutations(names):
        palette = Palette(STOCK)
        assert _closest(list(order), palette) >= floor, (label, order)


def test_names_up_to_the_palette_size_all_get_different_colours() -> None:
    names = [f"job-{word}" for word in "abcdefghij"]
    for order in (names, names[::-1]):
        palette = Palette(STOCK)
        assert len({palette.colour(name) for name in order}) == len(STOCK)


def test_past_the_palette_size_colours_repeat_evenly() -> None:
    palette = Palette(STOCK)
    colours = [palette.colour(f"w{i}x") for i in range(25)]
    counts = sorted(colours.count(c) for c in set(colours))
    assert counts == [2] * 5 + [3] * 5


def test_a_name_keeps_its_colour_within_a_plot() -> None:
    palette = Palette(STOCK)
    first = palette.colour("gpt-4o-mini")
    palette.colour("llama-3.1-70b")
    assert palette.colour("gpt-4o-mini") == first


def test_two_fresh_palettes_agree_for_the_same_names_in_the_same_order() -> None:
    first, second = Palette(STOCK), Palette(STOCK)
    for names in NAME_SETS.values():
        assert [first.colour(n) for n in names] == [second.colour(n) for n in names]


def test_another_process_gives_the_same_colours() -> None:
    # Python salts str hashes per process; the palette must not depend on it.
    code = (
        "from nexus_nb.widgets.palette import Palette\n"
        "import plotly.colors, sys\n"
        "p = Palette(plotly.colors.qualitative.Plotly)\n"
        "print(' '.join(p.colour(n) for n in sys.argv[1:]))\n"
    )
    names = [*MODELS, *DEMO_METRICS, *SOURCES]
    palette = Palette(STOCK)
    here = " ".join(palette.colour(n) for n in names)
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code, *names],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        )
        assert out.stdout.strip() == here


def test_a_plot_colours_the_demos_models_apart_in_two_fresh_plots() -> None:
    colours = []
    for _ in range(2):
        src = MemorySource()
        src.append(
            {
                "timestamp": np.arange(len(MODELS), dtype=np.int64),
                "latency_ms": np.arange(len(MODELS), dtype=np.float64),
                "model": list(MODELS),
            }
        )
        plot = LivePlot(src, y="latency_ms", color="model")
        plot.render()
        colours.append({t.name: t.line.color for t in plot.figure.data})
        plot.close()
    assert colours[0] == colours[1]
    assert len(set(colours[0].values())) == len(MODELS)
    pairs = itertools.combinations(colours[0].values(), 2)
    assert min(colour_distance(a, b) for a, b in pairs) >= 35.0


def test_a_colorway_the_user_passed_is_kept() -> None:
    src = MemorySource()
    src.append({"timestamp": np.arange(2, dtype=np.int64), "v": [1.0, 2.0], "g": ["a", "b"]})
    mine = ["#000000", "#ffffff", "#ff0000"]
    plot = LivePlot(src, y="v", color="g", layout={"colorway": mine})
    plot.render()
    assert {t.line.color for t in plot.figure.data} <= set(mine)
    plot.close()


def test_colours_in_unknown_forms_are_kept_apart_only_when_equal() -> None:
    assert colour_distance("red", "red") == 0.0
    assert colour_distance("red", "hsl(0,100%,50%)") == float("inf")
    assert colour_distance("#f00", "rgb(255, 0, 0)") == pytest.approx(0.0)
    palette = Palette(["red", "green", "blue"])
    assert {palette.colour(n) for n in "xyz"} == {"red", "green", "blue"}


def test_an_empty_palette_is_rejected() -> None:
    with pytest.raises(ValueError, match="colour"):
        Palette([])
