"""ChannelControls: filter parsing, inline validation, applying sync and async changes."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from nexus_nb.widgets import ChannelControls, FrameClock
from nexus_nb.widgets.controls import format_filters, parse_filters
from nexus_nb.widgets.testing import record_messages, send_from_page

CHANNELS = ["telemetry.metrics", "tasks.updates", "system.alerts"]


def test_filters_parse_into_lists_of_values_per_key() -> None:
    assert parse_filters(" priority = high, critical ; status=failed;") == {
        "priority": ["high", "critical"],
        "status": ["failed"],
    }
    assert parse_filters("   ") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("priority", "expected key=value"),
        ("pri ority=high", "a key is"),
        ("priority=high,", "empty value"),
        ("a=1; a=2", "given twice"),
        ("a=" + "x" * 3000, "longer than"),
    ],
)
def test_bad_filter_syntax_raises_value_error_saying_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_filters(text)


def test_format_filters_round_trips_through_parse() -> None:
    filters = {"priority": ["high", "critical"], "source": "agent-1"}
    assert parse_filters(format_filters(filters)) == {
        "priority": ["high", "critical"],
        "source": ["agent-1"],
    }


def test_filter_values_are_typed_as_the_cli_types_them() -> None:
    # Filters compare with JSON strict equality: the text "3" never matches 3.
    assert parse_filters('n=3, 2.5; ok=true; code="3"; who=null, none') == {
        "n": [3, 2.5],
        "ok": [True],
        "code": ["3"],
        "who": [None, "none"],
    }
    typed = {"n": [3, "3", 2.5], "ok": [False], "label": ['"quoted"', "plain"]}
    text = format_filters(typed)
    assert text == 'n=3,"3",2.5; ok=false; label="\\"quoted\\"",plain'
    assert parse_filters(text) == typed


def test_apply_calls_on_change_with_checked_channels_and_their_filters() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(
        CHANNELS,
        selected={"telemetry.metrics": None, "tasks.updates": {"priority": ["high"]}},
        on_change=calls.append,
    )
    assert controls.filters["tasks.updates"] == "priority=high"
    controls.check("system.alerts")
    controls.type_filter("system.alerts", "severity=critical,error")
    controls.check("telemetry.metrics", False)
    assert calls == []  # not live: nothing applies before Apply
    controls.apply()
    assert calls == [
        {
            "tasks.updates": {"priority": ["high"]},
            "system.alerts": {"severity": ["critical", "error"]},
        }
    ]
    assert controls.message == "applied"


def test_invalid_filters_are_shown_inline_and_nothing_is_applied() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={"tasks.updates": None}, on_change=calls.append)
    controls.type_filter("tasks.updates", "priority")
    controls.apply()
    assert calls == []
    assert "expected key=value" in controls.errors["tasks.updates"]
    assert controls.errors["system.alerts"] == ""
    assert "invalid filters for tasks.updates" in controls.message


def test_a_corrected_filter_clears_its_error_on_the_next_apply() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={"tasks.updates": None}, on_change=calls.append)
    controls.type_filter("tasks.updates", "priority")
    controls.apply()
    controls.type_filter("tasks.updates", "priority=high")
    controls.apply()
    assert controls.errors["tasks.updates"] == ""
    assert calls == [{"tasks.updates": {"priority": ["high"]}}]


def test_an_unchecked_channel_with_bad_filters_is_ignored() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={}, on_change=calls.append)
    controls.type_filter("tasks.updates", "nonsense")
    controls.apply()
    assert calls == [{}]


def test_an_error_from_on_change_is_shown_as_plain_text() -> None:
    def refuse(_: object) -> None:
        raise RuntimeError("<denied>")

    controls = ChannelControls(CHANNELS, selected={}, on_change=refuse)
    rec = record_messages(controls)
    controls.apply()
    # The page shows the message as text (textContent), never as markup.
    assert controls.message == "failed: RuntimeError: <denied>"
    state = rec.frames[-1][0]["controls"]
    assert state["failed"]
    assert state["message"] == "failed: RuntimeError: <denied>"


def test_a_future_from_on_change_disables_apply_until_it_settles_and_shows_its_error() -> None:
    pending: Future[None] = Future()
    seen: list[dict[str, Any]] = []

    def change(selection: dict[str, Any]) -> Future[None]:
        seen.append(selection)
        return pending

    controls = ChannelControls(CHANNELS, selected={"system.alerts": None}, on_change=change)
    controls.apply()
    assert controls.task is pending
    assert controls.busy
    assert controls.message == "applying..."
    controls.apply()  # refused while the first one runs
    assert controls.message == "still applying the previous change"
    pending.set_exception(LookupError("unknown channel"))
    assert seen == [{"system.alerts": None}]
    assert "LookupError: unknown channel" in controls.message
    assert not controls.busy


def test_a_settled_future_is_shown_on_the_clock_thread() -> None:
    clock = FrameClock(thread=True)
    try:
        pending: Future[None] = Future()
        controls = ChannelControls(
            CHANNELS, selected={"system.alerts": None}, on_change=lambda _: pending, clock=clock
        )
        controls.apply()
        assert controls.busy
        pending.set_result(None)  # here, not on the clock's thread
        assert clock.call(lambda: controls.message) == "applied"
        assert not controls.busy
    finally:
        clock.close()


def test_close_cancels_a_pending_apply() -> None:
    pending: Future[None] = Future()
    controls = ChannelControls(CHANNELS, selected={}, on_change=lambda _: pending)
    controls.apply()
    controls.close()
    assert pending.cancelled()


def test_live_controls_apply_each_toggle_and_submitted_filter_at_once() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={}, on_change=calls.append, live=True)
    controls.check("system.alerts")
    controls.type_filter("system.alerts", "severity=critical")
    assert calls == [{"system.alerts": None}, {"system.alerts": {"severity": ["critical"]}}]
    assert controls.part.controls["live"]  # the page sends a filter on Enter or blur only


def test_a_page_tick_and_untick_apply_at_once_in_live_mode() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={}, on_change=calls.append, live=True)
    rec = record_messages(controls)
    unticked = {ch: False for ch in CHANNELS}
    filters = {ch: "" for ch in CHANNELS}
    form = {"checked": {**unticked, "system.alerts": True}, "filters": filters}
    send_from_page(controls, {"t": "event", "part": 0, "action": "check", "form": form})
    assert calls == [{"system.alerts": None}]
    assert controls.checked["system.alerts"]
    form = {"checked": unticked, "filters": filters}
    send_from_page(controls, {"t": "event", "part": 0, "action": "check", "form": form})
    assert calls[-1] == {}
    assert not controls.checked["system.alerts"]
    # Every page showing it follows: the whole form goes back in a frame.
    state = rec.frames[-1][0]["controls"]
    assert state["checked"] == unticked
    assert state["message"] == "applied"


def test_a_page_filter_is_typed_in_and_applied_in_live_mode() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(
        CHANNELS, selected={"tasks.updates": None}, on_change=calls.append, live=True
    )
    form = {
        "checked": {ch: ch == "tasks.updates" for ch in CHANNELS},
        "filters": {"tasks.updates": "status=failed"},
    }
    send_from_page(controls, {"t": "event", "part": 0, "action": "filter", "form": form})
    assert controls.filters["tasks.updates"] == "status=failed"
    assert calls == [{"tasks.updates": {"status": ["failed"]}}]


def test_a_page_apply_with_an_invalid_filter_shows_the_error_and_applies_nothing() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={}, on_change=calls.append)
    rec = record_messages(controls)
    form = {
        "checked": {"tasks.updates": True, "system.alerts": True},
        "filters": {"tasks.updates": "priority", "system.alerts": "severity=error"},
    }
    send_from_page(controls, {"t": "event", "part": 0, "action": "apply", "form": form})
    assert calls == []
    state = rec.frames[-1][0]["controls"]
    assert "expected key=value" in state["errors"]["tasks.updates"]
    assert state["errors"]["system.alerts"] == ""
    assert state["failed"]
    assert "invalid filters for tasks.updates" in state["message"]


def test_page_ticks_in_apply_mode_wait_for_apply() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={}, on_change=calls.append)
    form = {"checked": {"system.alerts": True}, "filters": {}}
    send_from_page(controls, {"t": "event", "part": 0, "action": "check", "form": form})
    assert calls == []
    send_from_page(controls, {"t": "event", "part": 0, "action": "apply", "form": form})
    assert calls == [{"system.alerts": None}]


def test_a_malformed_page_event_is_ignored() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={}, on_change=calls.append, live=True)
    for content in (
        {"t": "event", "part": 0, "action": "explode", "form": {}},
        {"t": "event", "part": 0, "action": "apply", "form": "nope"},
        {"t": "event", "part": 0, "action": "check"},
    ):
        send_from_page(controls, content)
    form = {"checked": {"unknown": True, "system.alerts": "yes"}, "filters": {"tasks.updates": 3}}
    send_from_page(controls, {"t": "event", "part": 0, "action": "check", "form": form})
    assert calls == [{}]  # the last one applied, with nothing it could not read
    assert "unknown" not in controls.checked
    assert controls.filters["tasks.updates"] == ""


def test_checking_an_unknown_channel_is_a_value_error() -> None:
    controls = ChannelControls(CHANNELS, selected={}, on_change=lambda _: None)
    with pytest.raises(ValueError, match="not one of"):
        controls.check("nope")
    with pytest.raises(ValueError, match="not one of"):
        controls.type_filter("nope", "a=1")


def test_sync_shows_a_selection_without_applying_it() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={}, on_change=calls.append, live=True)
    rec = record_messages(controls)
    controls.sync({"telemetry.metrics": {"source": ["server-01"]}})
    assert calls == []
    assert controls.checked["telemetry.metrics"]
    assert controls.filters["telemetry.metrics"] == "source=server-01"
    assert rec.frames[-1][0]["controls"]["checked"]["telemetry.metrics"]


def test_a_live_toggle_during_a_pending_apply_is_applied_after_it() -> None:
    futures: list[Future[None]] = []
    seen: list[dict[str, Any]] = []

    def change(selection: dict[str, Any]) -> Future[None]:
        seen.append(selection)
        futures.append(Future())
        return futures[-1]

    controls = ChannelControls(CHANNELS, selected={}, on_change=change, live=True)
    controls.check("system.alerts")
    controls.check("tasks.updates")  # while the first is applying
    assert len(seen) == 1
    futures[0].set_result(None)
    assert len(seen) == 2
    assert seen[-1] == {"system.alerts": None, "tasks.updates": None}


def test_the_controls_are_a_widget_of_their_own_whose_state_holds_the_form() -> None:
    controls = ChannelControls(
        CHANNELS, selected={"system.alerts": None}, on_change=lambda _: None, title="Channels"
    )
    (part,) = controls.widget.get_state()["parts"]
    state = part["frame"]["controls"]
    assert part["frame"]["kind"] == "controls"
    assert state["channels"] == CHANNELS
    assert state["checked"] == {ch: ch == "system.alerts" for ch in CHANNELS}
    assert state["title"] == "Channels"
    assert not state["live"]


def test_the_static_fallback_lists_the_ticked_channels_escaped() -> None:
    controls = ChannelControls(
        ["a<b>", "c"], selected={"a<b>": {"k": ["<v>"]}}, on_change=lambda _: None
    )
    assert controls.to_html() == "<ul><li>a&lt;b&gt; k=&lt;v&gt;</li></ul>"
    controls.close()
    assert repr(controls) == "<ChannelControls channels=2>"
