"""Checkboxes and filter fields to choose channels, applied at once or with one button.

The form is drawn by the page (``ControlsView`` in ``surface.js``) from a
:class:`ControlsPart`'s state; the kernel keeps the authoritative copy, and
every tick, submitted filter or click comes back as a page event carrying the
whole form.
"""

from __future__ import annotations

import concurrent.futures
import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nexus_nb.protocol import filter_text, filter_value
from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.display import Displayable
from nexus_nb.widgets.meter import MessageMeter
from nexus_nb.widgets.owner import owned
from nexus_nb.widgets.surface import Part

__all__ = ["ChannelControls", "ControlsPart", "format_filters", "parse_filters"]

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


class ControlsPart(Part):
    """The kernel's copy of the controls' form: a checkbox and a filter field per channel.

    Its state is ``{"controls": {...}}`` with ``channels`` (display order),
    ``checked`` (channel to bool), ``filters`` (channel to text), ``errors``
    (channel to text), ``message`` (text), ``failed`` (the message is an error),
    ``busy`` (Apply disabled), ``hint``, ``live`` and ``title`` (``None``, or the
    heading of a collapsible block). All text is plain: the page shows it as
    text, never as markup. A frame's delta is the whole dict (a few hundred
    bytes), sent when it changed.

    A page event is ``{"action": "check" | "filter" | "apply", "form":
    {"checked": {...}, "filters": {...}}}``: the form is read into the copy
    (unknown channels and ill-typed values are ignored), then ``on_action`` gets
    the action.

    The dict is replaced on each change, never changed in place, so a reader on
    another thread always sees one whole state.
    """

    kind = "controls"
    #: What a page event may ask for.
    ACTIONS = frozenset({"check", "filter", "apply"})

    def __init__(
        self,
        controls: Mapping[str, Any],
        *,
        on_action: Callable[[str], object],
        meter: MessageMeter | None = None,
    ) -> None:
        super().__init__(meter)
        self.controls: Mapping[str, Any] = dict(controls)
        self.on_action = on_action

    def state(self, buffers: list[memoryview]) -> dict[str, Any]:
        """The whole form."""
        return {"controls": dict(self.controls)}

    def update(self, **changes: Any) -> None:
        """Change entries of the state; the page gets the whole of it if anything changed."""
        controls = {**self.controls, **changes}
        if controls != self.controls:
            self.controls = controls
            self.send({"controls": controls})

    def on_event(self, content: dict[str, Any]) -> None:
        """A tick, a submitted filter or Apply: read the form, then act on it."""
        action = content.get("action")
        form = content.get("form")
        if action not in self.ACTIONS or not isinstance(form, dict):
            return
        self.read_form(form)
        self.on_action(action)

    def read_form(self, form: Mapping[str, Any]) -> None:
        """Take the page's ticks and filter texts for the known channels."""
        channels = self.controls["channels"]
        checked, filters = dict(self.controls["checked"]), dict(self.controls["filters"])
        ticks, texts = form.get("checked"), form.get("filters")
        for ch in channels:
            if isinstance(ticks, dict) and isinstance(ticks.get(ch), bool):
                checked[ch] = ticks[ch]
            if isinstance(texts, dict) and isinstance(texts.get(ch), str):
                filters[ch] = texts[ch]
        self.update(checked=checked, filters=filters)


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
    From code, :meth:`check` and :meth:`type_filter` do what a tick and a
    submitted filter do in the page, and :meth:`apply` what the button does.

    Args:
        channels: The channels offered, in display order.
        selected: Channels checked at first, with their filters (or ``None``).
        on_change: Called on Apply with the new selection, on the controls' owner
            thread; it must not block: return a :class:`concurrent.futures.Future`
            for work that takes time (its outcome is shown when it settles).
        live: Apply on every toggle and submitted filter, not only on Apply.
        title: Shown as the heading of a collapsible block (``None``: no heading).
        clock: The frame clock whose thread owns the controls (default: the shared
            one in a kernel; see :mod:`nexus_nb.widgets.owner`).

    Attributes:
        part: The form in its surface (or in a dashboard's).
        task: The pending apply's future, if ``on_change`` returned one.
    """

    def __init__(
        self,
        channels: Sequence[str],
        *,
        selected: Mapping[str, Mapping[str, Any] | None],
        on_change: Callable[[dict[str, dict[str, Any] | None]], object],
        live: bool = False,
        title: str | None = None,
        clock: FrameClock | None = None,
    ) -> None:
        self.clock = clock
        self.channels = list(channels)
        self.on_change = on_change
        self.live = live
        self.task: concurrent.futures.Future[Any] | None = None
        self.meter = MessageMeter()
        self._closed = False
        self._again = False
        hint = (
            "Ticking a channel subscribes at once; a filter applies on Enter."
            if live
            else "Tick channels, type filters, then click Apply."
        )
        state = {
            "channels": self.channels,
            "checked": {ch: ch in selected for ch in self.channels},
            "filters": {ch: format_filters(selected.get(ch)) for ch in self.channels},
            "errors": {ch: "" for ch in self.channels},
            "message": "",
            "failed": False,
            "busy": False,
            "hint": hint,
            "live": live,
            "title": title,
        }
        self.part = ControlsPart(state, on_action=self._act, meter=self.meter)

    def _parts(self) -> list[Part]:
        return [self.part]

    # -- the form, as plain data (snapshots: change it with the methods) -------

    @property
    def checked(self) -> dict[str, bool]:
        """Whether each channel is ticked."""
        return dict(self.part.controls["checked"])

    @property
    def filters(self) -> dict[str, str]:
        """Each channel's filter text, as typed."""
        return dict(self.part.controls["filters"])

    @property
    def errors(self) -> dict[str, str]:
        """Each channel's filter error from the last Apply (``""``: none)."""
        return dict(self.part.controls["errors"])

    @property
    def message(self) -> str:
        """What the last Apply did (``"applied"``, ``"applying..."``, an error...)."""
        return str(self.part.controls["message"])

    @property
    def busy(self) -> bool:
        """Whether an apply is pending (Apply is disabled)."""
        return bool(self.part.controls["busy"])

    @owned
    def check(self, channel: str, value: bool = True) -> None:
        """Tick (or untick) ``channel`` as a click in the page does: in live mode it applies.

        Raises:
            ValueError: If ``channel`` is not offered.
        """
        self._known(channel)
        self._submit("check", checked={**self.checked, channel: bool(value)})

    @owned
    def type_filter(self, channel: str, text: str) -> None:
        """Type ``text`` in ``channel``'s field and press Enter: in live mode it applies.

        Raises:
            ValueError: If ``channel`` is not offered.
        """
        self._known(channel)
        self._submit("filter", filters={**self.filters, channel: str(text)})

    def _known(self, channel: str) -> None:
        if channel not in self.channels:
            raise ValueError(f"{channel!r} is not one of the controls' channels")

    def _submit(self, action: str, **form: dict[str, Any]) -> None:
        # The page's own path: a whole form in an event.
        self.part.on_event(
            {"action": action, "form": {"checked": self.checked, "filters": self.filters, **form}}
        )

    def _act(self, action: str) -> None:
        if not self._closed and (action == "apply" or self.live):
            self.apply()

    @owned
    def sync(self, selected: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Show ``selected`` (channels with their filters) without applying it."""
        filters = self.filters
        for ch in self.channels:
            if ch in selected:
                filters[ch] = format_filters(selected[ch])
        self.part.update(checked={ch: ch in selected for ch in self.channels}, filters=filters)

    @owned
    def selection(self) -> dict[str, dict[str, Any] | None]:
        """Validate the form and return ``{channel: filters}`` for checked channels.

        Shows each invalid field's error next to it.

        Raises:
            ValueError: If any checked channel's filter text is invalid.
        """
        chosen: dict[str, dict[str, Any] | None] = {}
        errors = {ch: "" for ch in self.channels}
        checked, filters = self.checked, self.filters
        for ch in self.channels:
            if not checked[ch]:
                continue
            try:
                chosen[ch] = parse_filters(filters[ch])
            except ValueError as exc:
                errors[ch] = str(exc)
        self.part.update(errors=errors)
        bad = [ch for ch, error in errors.items() if error]
        if bad:
            raise ValueError(f"invalid filters for {', '.join(bad)}")
        return chosen

    @owned
    def apply(self) -> None:
        """Do what the Apply button does: validate, then call ``on_change``."""
        if self.task is not None and not self.task.done():
            self._say("still applying the previous change")
            self._again = self.live  # live edits are not lost: apply again after it
            return
        try:
            chosen = self.selection()
        except ValueError as exc:
            self._say(str(exc), failed=True)
            return
        try:
            result = self.on_change(chosen)
        except Exception as exc:
            self._show_failure(exc)
            return
        if isinstance(result, concurrent.futures.Future):
            self._start(result)
        else:
            self._say("applied")

    def _start(self, future: concurrent.futures.Future[Any]) -> None:
        self.task = future
        self.part.update(busy=True, message="applying...", failed=False)
        # Settles on the thread that did the work: the result is shown on the owner's.
        future.add_done_callback(self._settled)

    def _settled(self, future: concurrent.futures.Future[Any]) -> None:
        clock = self.clock
        if clock is None:
            self._finished(future)
        else:
            clock.post(lambda: self._finished(future))

    def _finished(self, task: concurrent.futures.Future[Any]) -> None:
        self.part.update(busy=False)
        if task.cancelled():
            self._say("cancelled")
        elif (exc := task.exception()) is not None:
            self._show_failure(exc)
        else:
            self._say("applied")
        if self._again and not self._closed:
            self._again = False
            self.apply()

    def _show_failure(self, exc: BaseException) -> None:
        self._say(f"failed: {type(exc).__name__}: {exc}", failed=True)

    def _say(self, message: str, *, failed: bool = False) -> None:
        self.part.update(message=message, failed=failed)

    @owned
    def close(self) -> None:
        """Cancel a pending apply, leave the last frame in the page and close the widget."""
        if self._closed:
            return
        if self.task is not None:
            self.task.cancel()
        self._freeze()
        self._closed = True
        self._close_surface()

    @owned
    def to_html(self) -> str:
        """The ticked channels and their filters, as an HTML list."""
        filters = self.filters
        items = "".join(
            f"<li>{html.escape(ch)} {html.escape(filters[ch])}</li>"
            for ch, ticked in self.checked.items()
            if ticked
        )
        return f"<ul>{items}</ul>"

    def __repr__(self) -> str:
        return f"<ChannelControls channels={len(self.channels)}>"
