"""What the bar and histogram views of a :class:`LivePlot` share: colours, notes, the snapshot.

A chart folds a source's rows into a small, bounded summary in the kernel (the
newest value per category, the counts per bin) and draws only that summary on
the plot's figure: never the raw rows. :class:`LivePlot` owns the figure, the
frame clock and the controls; a chart only says what to draw.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nexus_nb.widgets.palette import Palette, preferred_slot
from nexus_nb.widgets.snapshot import SnapshotTrace, plot_svg
from nexus_nb.widgets.source import Source

__all__ = ["Chart", "epoch_ms", "group_colour"]


def epoch_ms(values: np.ndarray) -> np.ndarray:
    """int64 ns (``"timestamp"``) as float64 epoch ms; any other numbers as float64."""
    if values.dtype == np.int64:
        # Whole microseconds fit float64 exactly; milliseconds then round once.
        return (values // 1000) / 1000.0
    return values.astype(np.float64)


def group_colour(palette: Sequence[str], name: str) -> str:
    """The colour of group ``name``: picked by a stable hash of the name, so it holds across runs.

    With a plot's :class:`~nexus_nb.widgets.palette.Palette`, names that would share
    a colour (or nearly) within the plot are moved apart (see its docstring); with a
    plain sequence, the name's preferred colour alone.
    """
    if isinstance(palette, Palette):
        return palette.colour(name)
    return palette[preferred_slot(name, len(palette))]


class Chart(ABC):
    """A summary view drawn on a plotly figure: subclasses fold rows and draw traces.

    Subclasses implement :meth:`layout`, :meth:`render` and :meth:`snapshot`, and
    set :attr:`note` to the limits that kept rows out (shown on the figure).
    """

    def __init__(self) -> None:
        self.figure: Any = None
        self.palette: Sequence[str] = ()
        self.note = ""
        self._drawn_note = ""
        self._first = True  # the first frame draws everything

    def attach(self, figure: Any, palette: Sequence[str]) -> None:
        """Draw on ``figure`` from now on, with ``palette`` for the groups' colours.

        A :class:`Palette` is kept as it is (shared with the plot, so a group has one
        colour in both); any other sequence becomes a fresh one.
        """
        self.figure = figure
        self.palette = palette if isinstance(palette, Palette) else Palette(palette)

    def _add_group_traces(
        self,
        count: int,
        names: Sequence[str],
        grouped: bool,
        make: Callable[[str, str], Any],
    ) -> bool:
        """Add traces until there are ``count``, each ``make(name, colour)``; say if any was.

        Grouped, trace ``i`` is group ``names[i]`` in its :func:`group_colour`;
        otherwise every trace is ``names[0]`` in the palette's first colour.
        """
        if count <= len(self.figure.data):
            return False
        traces = []
        for index in range(len(self.figure.data), count):
            name = names[index] if grouped else names[0]
            traces.append(
                make(name, group_colour(self.palette, name) if grouped else self.palette[0])
            )
        self.figure.add_traces(traces)
        return True

    @property
    @abstractmethod
    def dropped_rows(self) -> int:
        """Rows a limit kept out of the chart."""

    @abstractmethod
    def layout(self) -> dict[str, Any]:
        """Layout properties of this kind of chart, applied under the user's own."""

    @abstractmethod
    def render(self, source: Source) -> bool:
        """Fold what changed in ``source`` and draw it; return whether traces or axes changed."""

    @abstractmethod
    def snapshot(self) -> tuple[list[SnapshotTrace], dict[str, Any]]:
        """The drawn bars as snapshot traces, and :func:`plot_svg` keywords for their axes."""

    def _draw_note(self) -> bool:
        """Show :attr:`note` in the figure's top left corner; return whether it changed."""
        if self.note == self._drawn_note:
            return False
        self._drawn_note = self.note
        self.figure.layout.annotations = (
            [
                {
                    "text": self.note,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0,
                    "y": 1.0,
                    "xanchor": "left",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 11, "color": "#b35900"},
                }
            ]
            if self.note
            else []
        )
        return True

    def to_svg(self, *, title: str | None, height: int | None, note: str) -> str:
        """The chart as self-contained SVG: real bars, the note beside ``note``."""
        traces, axes = self.snapshot()
        text = f"{note} · {self.note}" if self.note else note
        return plot_svg(traces, title=title, height=height, note=text, time_axis=False, **axes)
