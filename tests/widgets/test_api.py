"""The public surface of nexus_nb.widgets."""

from __future__ import annotations

import nexus_nb.widgets as widgets
from nexus_nb.widgets import Source
from nexus_nb.widgets.testing import MemorySource


def test_all_is_sorted_and_every_name_exists() -> None:
    assert widgets.__all__ == sorted(widgets.__all__)
    assert all(hasattr(widgets, name) for name in widgets.__all__)


def test_the_public_names_are_the_documented_ones() -> None:
    assert set(widgets.__all__) == {
        "ChannelControls",
        "ChannelStatus",
        "FrameClock",
        "LivePlot",
        "LiveTable",
        "Source",
        "StatusBar",
        "StatusSnapshot",
        "decimate_minmax",
    }


def test_the_memory_source_satisfies_the_source_protocol() -> None:
    assert isinstance(MemorySource(), Source)


def test_the_memory_source_reads_from_the_first_retained_row_and_fills_unknown_columns() -> None:
    src = MemorySource(maxlen=3)
    src.append({"timestamp": [1, 2, 3, 4], "value": [1.0, 2.0, 3.0, 4.0], "name": list("abcd")})
    first, data = src.read(["timestamp", "name", "missing"], start=0)
    assert first == 1
    assert data["timestamp"].tolist() == [2, 3, 4]
    assert data["name"].tolist() == ["b", "c", "d"]
    assert len(data["missing"]) == 3
    assert src.evicted == 1
    assert len(src.to_dataframe(last=2)) == 2
