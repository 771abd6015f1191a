"""ChannelControls: filter parsing, inline validation, applying sync and async changes."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from nexus_nb.widgets import ChannelControls
from nexus_nb.widgets.controls import format_filters, parse_filters

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
    assert controls.fields["tasks.updates"].value == "priority=high"
    controls.checks["system.alerts"].value = True
    controls.fields["system.alerts"].value = "severity=critical,error"
    controls.checks["telemetry.metrics"].value = False
    controls.button.click()
    assert calls == [
        {
            "tasks.updates": {"priority": ["high"]},
            "system.alerts": {"severity": ["critical", "error"]},
        }
    ]
    assert controls.message.value == "applied"


def test_invalid_filters_are_shown_inline_and_nothing_is_applied() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={"tasks.updates": None}, on_change=calls.append)
    controls.fields["tasks.updates"].value = "priority"
    controls.button.click()
    assert calls == []
    assert "expected key=value" in controls.errors["tasks.updates"].value
    assert "invalid filters for tasks.updates" in controls.message.value


def test_an_unchecked_channel_with_bad_filters_is_ignored() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={}, on_change=calls.append)
    controls.fields["tasks.updates"].value = "nonsense"
    controls.apply()
    assert calls == [{}]


def test_an_error_from_on_change_is_shown_escaped() -> None:
    def refuse(_: object) -> None:
        raise RuntimeError("<denied>")

    controls = ChannelControls(CHANNELS, selected={}, on_change=refuse)
    controls.apply()
    assert "failed: RuntimeError: &lt;denied&gt;" in controls.message.value


def test_a_future_from_on_change_disables_apply_until_it_settles_and_shows_its_error() -> None:
    pending: Future[None] = Future()
    seen: list[dict[str, Any]] = []

    def change(selection: dict[str, Any]) -> Future[None]:
        seen.append(selection)
        return pending

    controls = ChannelControls(CHANNELS, selected={"system.alerts": None}, on_change=change)
    controls.apply()
    assert controls.task is pending
    assert controls.button.disabled
    controls.apply()  # refused while the first one runs
    assert controls.message.value == "still applying the previous change"
    pending.set_exception(LookupError("unknown channel"))
    assert seen == [{"system.alerts": None}]
    assert "LookupError: unknown channel" in controls.message.value
    assert not controls.button.disabled


def test_close_cancels_a_pending_apply() -> None:
    pending: Future[None] = Future()
    controls = ChannelControls(CHANNELS, selected={}, on_change=lambda _: pending)
    controls.apply()
    controls.close()
    assert pending.cancelled()


def test_live_controls_apply_each_toggle_and_submitted_filter_at_once() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={}, on_change=calls.append, live=True)
    controls.checks["system.alerts"].value = True
    controls.fields["system.alerts"].value = "severity=critical"
    assert calls == [{"system.alerts": None}, {"system.alerts": {"severity": ["critical"]}}]
    assert not controls.fields["system.alerts"].continuous_update


def test_sync_shows_a_selection_without_applying_it() -> None:
    calls: list[dict[str, Any]] = []
    controls = ChannelControls(CHANNELS, selected={}, on_change=calls.append, live=True)
    controls.sync({"telemetry.metrics": {"source": ["server-01"]}})
    assert calls == []
    assert controls.checks["telemetry.metrics"].value
    assert controls.fields["telemetry.metrics"].value == "source=server-01"


def test_a_live_toggle_during_a_pending_apply_is_applied_after_it() -> None:
    futures: list[Future[None]] = []
    seen: list[dict[str, Any]] = []

    def change(selection: dict[str, Any]) -> Future[None]:
        seen.append(selection)
        futures.append(Future())
        return futures[-1]

    controls = ChannelControls(CHANNELS, selected={}, on_change=change, live=True)
    controls.checks["system.alerts"].value = True
    controls.checks["tasks.updates"].value = True  # while the first is applying
    assert len(seen) == 1
    futures[0].set_result(None)
    assert len(seen) == 2
    assert seen[-1] == {"system.alerts": None, "tasks.updates": None}
