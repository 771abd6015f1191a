"""A block of self-contained HTML in a surface: the status bar's and the tables' frames."""

from __future__ import annotations

from typing import Any

from nexus_nb.widgets.meter import MessageMeter
from nexus_nb.widgets.surface import Part

__all__ = ["HtmlPart"]


class HtmlPart(Part):
    """HTML the page puts in place as it is (escaped by the kernel: no script, no style sheet).

    A frame's delta is ``{"html": text}``, sent only when the text changed.
    """

    kind = "html"

    def __init__(self, html: str = "", meter: MessageMeter | None = None) -> None:
        super().__init__(meter)
        self.html = html

    def state(self, buffers: list[memoryview]) -> dict[str, Any]:
        """The whole block."""
        return {"html": self.html}

    def show(self, html: str) -> None:
        """Show ``html`` in place of the current block (nothing is sent if it is the same)."""
        if html == self.html:
            return
        self.html = html
        self.send({"html": html})
