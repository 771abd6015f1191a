"""A live HTML table of the newest events, highlighted by severity, priority and status."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.display import Displayable
from nexus_nb.widgets.htmlpart import HtmlPart
from nexus_nb.widgets.owner import owned
from nexus_nb.widgets.source import Source
from nexus_nb.widgets.surface import Part
from nexus_nb.widgets.view import LiveView

__all__ = ["LiveTable"]

MAX_ROWS = 1000

# system.alerts rows are tinted whole by severity; tasks.* cells by priority and status.
# Tinted rows set their own dark text: on JupyterLab's dark theme the inherited
# light text would vanish on the light tints.
SEVERITY_STYLE = {
    "critical": "background:#f8d7da;color:#58151c;font-weight:bold",
    "error": "background:#fde2e1;color:#1f2328",
    "warning": "background:#fff3cd;color:#1f2328",
    "info": "background:#e7f1ff;color:#1f2328",
}
PRIORITY_STYLE = {
    "critical": "background:#dc3545;color:#fff;font-weight:bold",
    "high": "background:#fd7e14;color:#fff",
    "medium": "background:#ffe69c;color:#1f2328",
    "low": "color:#8a939b",
}
STATUS_STYLE = {
    "failed": "color:#d64550;font-weight:bold",
    "completed": "color:#2f9e5a",
    "running": "color:#3b82f6;font-style:italic",
}
#: The widest a column gets; a longer value ends in an ellipsis (whole in its tooltip).
MAX_CELL_WIDTH = "32em"
_CELL_STYLE = {"priority": PRIORITY_STYLE, "status": STATUS_STYLE}
# table-layout:auto overrides the fixed layout that JupyterLab's and nbconvert's
# stylesheets give tables in rendered HTML: under it the columns get equal widths
# whatever their text, and unwrapped text spills over its neighbours. Each cell
# also clips its own text (the inner div), so a column cannot overlap the next
# under any table layout.
_TABLE_STYLE = (
    "border-collapse:collapse;table-layout:auto;width:100%;"
    "font:12px/1.4 var(--jp-code-font-family,monospace);font-variant-numeric:tabular-nums;"
    "color:var(--jp-ui-font-color1,inherit)"
)
_TD = (
    "padding:2px 6px;border-bottom:1px solid var(--jp-border-color2,#ddd);"
    "text-align:left;vertical-align:top;white-space:nowrap;overflow:hidden"
)
#: Shown above the table of a channel that is no longer subscribed.
_UNSUBSCRIBED = "not subscribed: showing what was buffered"
_NOTE = "color:var(--jp-ui-font-color2,#808080);font-style:italic"
_CLIP = f"max-width:{MAX_CELL_WIDTH};overflow:hidden;text-overflow:ellipsis;white-space:nowrap"


def _text(values: np.ndarray, name: str) -> list[str]:
    """Format one column for display (not yet escaped)."""
    if name == "timestamp" and values.dtype == np.int64:
        stamps = values.astype("datetime64[ns]").astype("datetime64[ms]")
        return [f"{s}Z".replace("T", " ") for s in stamps.astype(str)]
    if values.dtype == object:
        return ["" if v is None else str(v) for v in values]
    return ["" if np.isnan(v) else f"{v:g}" for v in values.astype(np.float64)]


def render_table(
    channel: str, first: int, data: dict[str, np.ndarray], columns: Sequence[str]
) -> str:
    """Return the rows of ``data`` as an HTML table, newest first, every value escaped.

    Self-contained (no script or stylesheet), so it is also the static snapshot of
    a closed table and of ``nexus-nb export``. Columns never overlap: each is at
    most :data:`MAX_CELL_WIDTH` wide, longer values end in an ellipsis and show
    whole in their tooltip, and a table wider than the page scrolls sideways.

    Args:
        channel: Shown in the caption.
        first: Arrival index of the first (oldest) row.
        data: One array per column, oldest row first.
        columns: Column order.
    """
    count = len(next(iter(data.values()))) if data else 0
    text = {name: _text(data[name], name) for name in columns}
    head = "".join(f"<th style='{_TD}'>{_clip(html.escape(name))}</th>" for name in columns)
    body = []
    for i in reversed(range(count)):
        severity = text["severity"][i].lower() if "severity" in text else ""
        row_style = SEVERITY_STYLE.get(severity, "")
        cells = []
        for name in columns:
            value = text[name][i]
            style = _CELL_STYLE.get(name, {}).get(value.lower(), "")
            escaped = html.escape(value)
            cells.append(f"<td title='{escaped}' style='{_TD};{style}'>{_clip(escaped)}</td>")
        body.append(
            f"<tr style='{row_style}' data-severity='{html.escape(severity)}'>{''.join(cells)}</tr>"
        )
    caption = f"{html.escape(channel)}: rows {first}-{first + count - 1}" if count else ""
    # A table wider than its cell scrolls inside its own box instead of spilling out.
    return (
        "<div class='nnb-table' style='overflow-x:auto;max-width:100%'>"
        f"<table style='{_TABLE_STYLE}'><caption style='text-align:left;"
        f"color:var(--jp-ui-font-color2,#666)'>{caption}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _clip(markup: str) -> str:
    """``markup`` (already escaped) cut to the column's width with an ellipsis."""
    return f"<div style='{_CLIP}'>{markup}</div>"


class LiveTable(LiveView, Displayable):
    """The newest ``rows`` events of a :class:`Source` as an HTML table, newest first.

    Rows of ``system.alerts`` are tinted by ``severity`` (critical, error,
    warning, info); ``tasks.*`` cells by ``priority`` (critical, high, medium,
    low) and ``status`` (failed, completed, running). Every value is escaped, so
    event data cannot inject markup. Each frame reads only the last ``rows`` rows
    (cost O(rows x columns)) and is paced like :class:`LivePlot`.

    Args:
        source: Where the rows come from.
        rows: How many newest rows to show, 1 to 1000.
        columns: Columns to show; default every column of the source but
            ``channel`` (one table shows one channel).
        fps: Frame-rate cap; ``None`` uses the clock's.
        clock: The frame clock; default the running loop's shared clock.

    Raises:
        ValueError: If ``rows`` is outside 1..1000.
    """

    def __init__(
        self,
        source: Source,
        *,
        rows: int = 20,
        columns: Sequence[str] | None = None,
        fps: float | None = None,
        clock: FrameClock | None = None,
    ) -> None:
        if not 1 <= rows <= MAX_ROWS:
            raise ValueError(f"rows must be between 1 and {MAX_ROWS}")
        self.source = source
        self.rows = rows
        self.columns = list(columns) if columns is not None else None
        super().__init__(fps=fps, clock=clock)
        self._version: int | None = None
        self._unsubscribed = False
        self._table = render_table(source.channel, 0, {}, [])
        #: The table's block in its surface (or in a dashboard's).
        self.part = HtmlPart(self._table, meter=self.meter)
        self._join_clock()

    def _parts(self) -> list[Part]:
        return [self.part]

    def pending(self) -> bool:
        """Whether the clock should render: shown, not paused, and the source changed.

        A table whose widget was closed directly (``table.widget.close()``) closes.
        """
        if not self._closed and self._surface is not None and self._surface.comm is None:
            self.close()
        shown = self.part.shown
        return not (self._closed or self._paused) and shown and self.source.version != self._version

    @owned
    def render(self) -> None:
        """Redraw the table now from the newest rows; nothing is sent if unchanged."""
        version = self.source.version
        if version == self._version:
            return
        self._version = version
        columns = self.columns
        if columns is None:
            columns = [name for name in self.source.columns if name != "channel"]
        first, data = self.source.read(columns, start=max(0, self.source.appended - self.rows))
        self._table = render_table(self.source.channel, first, data, columns)
        self._show()

    def show_error(self, error: BaseException | None) -> None:
        """Show a failed frame's error in place of the table until a frame succeeds."""
        if error is not None:
            text = html.escape(f"{type(error).__name__}: {error}")
            self.part.show(f"<pre style='color:#b00020'>frame failed: {text}</pre>")

    @owned
    def mark_unsubscribed(self, unsubscribed: bool = True) -> None:
        """Say above the table that its channel is no longer subscribed (or is again)."""
        if unsubscribed != self._unsubscribed:
            self._unsubscribed = unsubscribed
            self._show()

    def _show(self) -> None:
        note = f"<div style='{_NOTE}'>{_UNSUBSCRIBED}</div>" if self._unsubscribed else ""
        self.part.show(note + self._table)

    @owned
    def close(self) -> None:
        """Stop rendering, leave the last frame in the page, leave the clock, close the widget."""
        self._freeze()
        self._leave_clock()
        self._close_surface()

    @owned
    def to_html(self) -> str:
        """The table as HTML, drawn up to date first while the table is open."""
        self._catch_up()
        return self.part.html

    def __repr__(self) -> str:
        return f"<LiveTable {self.source.channel!r} rows={self.rows}>"
