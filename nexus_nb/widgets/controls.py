"""Checkboxes and filter fields to choose channels, applied at once or with one button."""

from __future__ import annotations

import concurrent.futures
import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets

from nexus_nb.protocol import filter_text, filter_value
from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.display import Displayable
from nexus_nb.widgets.owner import owned

__all__ = ["ChannelControls", "format_filters", "parse_filters"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
MAX_FILTER_LENGTH = 2000


def parse_filters(text: str) -> dict[str, list[Any]] | None:
    """Parse ``"key=v1,v2; key2=3"`` into ``{"key": ["v1", "v2"], "key2": [3]}``.

    Blank text means no filter (``None``). Whitespace around keys and values is
    ignored; an empty clause (``"a=1;"``) is allowed. Values are typed as the
    CLI's ``--filter`` types them (:func:`nexus_nb.protocol.filter_value`): ``3``
    is a number, ``true`` a boolean, ``"3"`` the text 3, anything else text.

    Raises:
        ValueError: On text longer than 2000 characters, a clause without ``=``,
            a key that is not an identifier (letters, digits, ``_ . -``), an
            empty value, or a key given twice; the message says which.
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise ValueError(f"filter longer than {MAX_FILTER_LENGTH} characters")
    filters: dict[str, list[Any]] = {}
    for clause in text.split(";"):
        if not clause.strip():
            continue
        key, sep, values = clause.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"{clause.strip()!r}: expected key=value")
        if not _KEY.match(key):
            raise ValueError(f"{key!r}: a key is letters, digits, '_', '.' or '-'")
        if key in filters:
            raise ValueError(f"{key!r} given twice")
        items = [v.strip() for v in values.split(",")]
        if not all(items):
            raise ValueError(f"{key!r}: empty value")
        filters[key] = [filter_value(item) for item in items]
    return filters or None


def format_filters(filters: Mapping[str, Any] | None) -> str:
    """Return the text :func:`parse_filters` reads back as ``filters``."""
    if not filters:
        return ""
    clauses = []
    for key, values in filters.items():
        items = values if isinstance(values, list | tuple) else [values]
        clauses.append(f"{key}={','.join(filter_text(v) for v in items)}")
    return "; ".join(clauses)


class ChannelControls(Displayable):
    """A checkbox and a filter field per channel, and an Apply button.

    Apply validates every checked channel's filter text; errors are shown next
    to the field and nothing is applied. Otherwise ``on_change`` gets
    ``{channel: filters or None}`` for the checked channels. If it returns a
    :class:`concurrent.futures.Future` (work started elsewhere, such as a
    stream's resubscribe on its reader thread), Apply is disabled until it
    settles, its error (if any) is shown, and :meth:`close` cancels it.

    With ``live``, ticking or unticking a channel applies at once and so does a
    filter field when Enter is pressed or it loses focus; a change made while the
    previous one is still applying is applied right after it. :meth:`sync` shows a
    selection made elsewhere (``Stream.resubscribe`` from code) without applying it.

    Args:
        channels: The channels offered, in display order.
        selected: Channels checked at first, with their filters (or ``None``).
        on_change: Called on Apply with the new selection, on the controls' owner
            thread; it must not block: return a :class:`concurrent.futures.Future`
            for work that takes time (its outcome is shown when it settles).
        live: Apply on every toggle and submitted filter, not only on Apply.
        clock: The frame clock whose thread owns the widgets (default: the shared
            one in a kernel; see :mod:`nexus_nb.widgets.owner`).
    """

    def __init__(
        self,
        channels: Sequence[str],
        *,
        selected: Mapping[str, Mapping[str, Any] | None],
        on_change: Callable[[dict[str, dict[str, Any] | None]], object],
        live: bool = False,
        clock: FrameClock | None = None,
    ) -> None:
        self.clock = clock
        self.channels = list(channels)
        self.on_change = on_change
        self.live = live
        self.task: concurrent.futures.Future[Any] | None = None
        self._closed = False
        self._syncing = False
        self._again = False
        self.checks = {
            ch: ipywidgets.Checkbox(value=ch in selected, description=ch, indent=False)
            for ch in self.channels
        }
        self.fields = {
            ch: ipywidgets.Text(
                value=format_filters(selected.get(ch)),
                placeholder="key=v1,v2; key2=v",
                continuous_update=not live,  # live: apply on Enter or blur, not per key
            )
            for ch in self.channels
        }
        self.errors = {ch: ipywidgets.HTML(value="") for ch in self.channels}
        self.button = ipywidgets.Button(description="Apply", button_style="primary")
        self.message = ipywidgets.HTML(value="")
        self.button.on_click(self._clicked)
        if live:
            for widget in (*self.checks.values(), *self.fields.values()):
                widget.observe(self._edited, names="value")
        hint = ipywidgets.HTML(
            value="Ticking a channel subscribes at once; a filter applies on Enter."
            if live
            else "Tick channels, type filters, then click Apply."
        )
        rows = [
            ipywidgets.HBox([self.checks[ch], self.fields[ch], self.errors[ch]])
            for ch in self.channels
        ]
        self.widget = ipywidgets.VBox([hint, *rows, ipywidgets.HBox([self.button, self.message])])

    @owned
    def sync(self, selected: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Show ``selected`` (channels with their filters) without applying it."""
        self._syncing = True
        try:
            for ch in self.channels:
                self.checks[ch].value = ch in selected
                if ch in selected:
                    self.fields[ch].value = format_filters(selected[ch])
        finally:
            self._syncing = False

    def _edited(self, _change: Any) -> None:
        if not self._syncing and not self._closed:
            self.apply()

    @owned
    def selection(self) -> dict[str, dict[str, Any] | None]:
        """Validate the form and return ``{channel: filters}`` for checked channels.

        Shows each invalid field's error next to it.

        Raises:
            ValueError: If any checked channel's filter text is invalid.
        """
        chosen: dict[str, dict[str, Any] | None] = {}
        bad = []
        for ch in self.channels:
            self.errors[ch].value = ""
            if not self.checks[ch].value:
                continue
            try:
                chosen[ch] = parse_filters(self.fields[ch].value)
            except ValueError as exc:
                self.errors[ch].value = _red(str(exc))
                bad.append(ch)
        if bad:
            raise ValueError(f"invalid filters for {', '.join(bad)}")
        return chosen

    @owned
    def apply(self) -> None:
        """Do what the Apply button does: validate, then call ``on_change``."""
        if self.task is not None and not self.task.done():
            self.message.value = "still applying the previous change"
            self._again = self.live  # live edits are not lost: apply again after it
            return
        try:
            chosen = self.selection()
        except ValueError as exc:
            self.message.value = _red(str(exc))
            return
        try:
            result = self.on_change(chosen)
        except Exception as exc:
            self._show_failure(exc)
            return
        if isinstance(result, concurrent.futures.Future):
            self._start(result)
        else:
            self.message.value = "applied"

    def _start(self, future: concurrent.futures.Future[Any]) -> None:
        self.task = future
        self.button.disabled = True
        self.message.value = "applying..."
        # Settles on the thread that did the work: the result is shown on the owner's.
        future.add_done_callback(self._settled)

    def _settled(self, future: concurrent.futures.Future[Any]) -> None:
        clock = self.clock
        if clock is None:
            self._finished(future)
        else:
            clock.post(lambda: self._finished(future))

    def _finished(self, task: concurrent.futures.Future[Any]) -> None:
        self.button.disabled = False
        if task.cancelled():
            self.message.value = "cancelled"
        elif (exc := task.exception()) is not None:
            self._show_failure(exc)
        else:
            self.message.value = "applied"
        if self._again and not self._closed:
            self._again = False
            self.apply()

    def _show_failure(self, exc: BaseException) -> None:
        self.message.value = _red(f"failed: {type(exc).__name__}: {exc}")

    def _clicked(self, _button: Any) -> None:
        self.apply()

    @owned
    def close(self) -> None:
        """Cancel a pending apply and close the widgets."""
        if self.task is not None:
            self.task.cancel()
        self._freeze()
        self._closed = True
        for group in (self.checks, self.fields, self.errors):
            for w in group.values():
                w.close()
        for w in (self.button, self.message, self.widget):
            w.close()

    @owned
    def to_html(self) -> str:
        """The ticked channels and their filters, as an HTML list."""
        checked = [ch for ch in self.channels if self.checks[ch].value]
        items = "".join(
            f"<li>{html.escape(ch)} {html.escape(self.fields[ch].value)}</li>" for ch in checked
        )
        return f"<ul>{items}</ul>"

    def __repr__(self) -> str:
        return f"<ChannelControls channels={len(self.channels)}>"


def _red(text: str) -> str:
    return f"<span style='color:#b02a37'>{html.escape(text)}</span>"
