"""Tests for nexus_nb.server.demo: deterministic simulated traffic and its pacing."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest

from nexus_nb.columnar import parse_timestamp
from nexus_nb.protocol import CHANNELS, isotime
from nexus_nb.server import ServerState, aserve
from nexus_nb.server.demo import CATCH_UP, TICK, DemoSource
from nexus_nb.server.pace import FakeClock

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
START = 1_762_134_840.0  # 2025-11-03T01:54:00Z, the reference's example time


def take(source: DemoSource, n: int, start: float = START) -> list[tuple[str, dict[str, Any]]]:
    return list(itertools.islice(source.events(start=start), n))


def test_same_seed_gives_the_same_sequence() -> None:
    assert take(DemoSource(seed=7), 2000) == take(DemoSource(seed=7), 2000)


def test_different_seeds_give_different_sequences() -> None:
    assert take(DemoSource(seed=1), 200) != take(DemoSource(seed=2), 200)


def test_a_source_without_seed_repeats_itself_across_events_calls() -> None:
    source = DemoSource()
    assert take(source, 300) == take(source, 300)


def test_every_channel_appears_within_the_first_thousand_events() -> None:
    assert {channel for channel, _ in take(DemoSource(seed=3), 1000)} == set(CHANNELS)


def test_channels_restrict_the_output() -> None:
    events = take(DemoSource(seed=3, channels=["tasks.updates", "ai.requests"]), 500)
    assert {channel for channel, _ in events} == {"tasks.updates", "ai.requests"}


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"rate": float("inf")}, {"channels": []}])
def test_bad_arguments_raise_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"rate|channels"):
        DemoSource(**kwargs)


def test_unknown_channel_raises_value_error() -> None:
    with pytest.raises(ValueError, match="bogus"):
        DemoSource(channels=["telemetry.metrics", "bogus"])


def test_timestamps_advance_one_interval_per_event_from_start() -> None:
    events = take(DemoSource(seed=4, rate=20.0), 50)
    assert [data["timestamp"] for _, data in events] == [
        isotime(START + i / 20.0) for i in range(50)
    ]


def test_metrics_are_the_majority_and_alerts_are_rare() -> None:
    counts = Counter(channel for channel, _ in take(DemoSource(seed=5), 20_000))
    assert 0.55 < counts["telemetry.metrics"] / 20_000 < 0.65
    assert 0.008 < counts["system.alerts"] / 20_000 < 0.025


def test_metric_values_stay_within_their_bounds() -> None:
    bounds = {
        "cpu_usage": (0.0, 100.0),
        "memory_usage": (0.0, 100.0),
        "latency_ms": (1.0, 5000.0),
        "requests_per_s": (0.0, 10000.0),
    }
    seen = defaultdict(list)
    for channel, data in take(DemoSource(seed=6), 20_000):
        if channel == "telemetry.metrics":
            seen[data["metric_name"]].append(data["value"])
    assert set(seen) == set(bounds)
    for metric, values in seen.items():
        low, high = bounds[metric]
        assert all(low <= v <= high for v in values), metric
        assert len(set(values)) > 100, metric


def test_metrics_cover_four_sources_shaped_like_the_reference_event() -> None:
    metrics = [d for c, d in take(DemoSource(seed=6), 2000) if c == "telemetry.metrics"]
    assert {d["source"] for d in metrics} == {"server-01", "server-02", "server-03", "server-04"}
    assert {d["event_type"] for d in metrics} == {"system.metric"}


def test_keys_and_value_types_are_stable_per_channel() -> None:
    shapes: dict[str, set[tuple[tuple[str, type], ...]]] = defaultdict(set)
    for channel, data in take(DemoSource(seed=8), 20_000):
        shapes[channel].add(tuple((key, type(value)) for key, value in data.items()))
    assert set(shapes) == set(CHANNELS)
    for channel, variants in shapes.items():
        assert len(variants) == 1, (channel, variants)


def test_every_event_has_a_timestamp_and_a_source_or_agent_and_is_plain_json() -> None:
    for channel, data in take(DemoSource(seed=9), 5000):
        assert ISO.match(data["timestamp"]), channel
        assert isinstance(data.get("source", data.get("agent")), str), channel
        assert orjson.loads(orjson.dumps(data)) == data


def test_task_lifecycle_is_created_then_running_then_finished_in_order() -> None:
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for channel, data in take(DemoSource(seed=10), 20_000):
        if channel.startswith("tasks."):
            assert (channel == "tasks.created") == (data["task_id"] not in history)
            history[data["task_id"]].append(data)
    finished = 0
    for updates in history.values():
        statuses = [u["status"] for u in updates]
        assert statuses[0] == "created"
        assert set(statuses[1:-1]) <= {"running"}
        assert all(u["duration_ms"] == 0 for u in updates if u["status"] in ("created", "running"))
        progress = [u["progress"] for u in updates]
        assert progress == sorted(progress)
        assert all(0 <= p <= 100 for p in progress)
        if statuses[-1] in ("completed", "failed"):
            finished += 1
            assert statuses.count(statuses[-1]) == 1
            assert updates[-1]["duration_ms"] > 0
    assert finished > 100
    assert {u[-1]["status"] for u in history.values()} >= {"completed", "failed"}


def test_tasks_in_flight_are_bounded() -> None:
    in_flight: set[str] = set()
    peak = 0
    for channel, data in take(DemoSource(seed=11), 20_000):
        if channel.startswith("tasks."):
            if data["status"] in ("completed", "failed"):
                in_flight.discard(data["task_id"])
            else:
                in_flight.add(data["task_id"])
            peak = max(peak, len(in_flight))
    assert 1 < peak <= 8


def test_task_updates_alone_still_follow_lifecycles() -> None:
    history: dict[str, list[str]] = defaultdict(list)
    for _, data in take(DemoSource(seed=12, channels=["tasks.updates"]), 2000):
        history[data["task_id"]].append(data["status"])
    assert len(history) > 50
    for statuses in history.values():
        assert set(statuses[:-1]) <= {"running"}


def test_commands_go_from_queued_to_running_to_an_exit_code() -> None:
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for channel, data in take(DemoSource(seed=13), 20_000):
        if channel == "commands.status":
            history[data["command_id"]].append(data)
    done = [h for h in history.values() if len(h) == 3]
    assert len(done) > 100
    for steps in history.values():
        assert [s["status"] for s in steps][:2] == ["queued", "running"][: len(steps)]
        assert all(s["exit_code"] == -1 for s in steps[:2])
    for steps in done:
        final = steps[-1]
        assert (final["status"], final["exit_code"] == 0) in (
            ("succeeded", True),
            ("failed", False),
        )


def test_ai_requests_have_plausible_tokens_and_latencies() -> None:
    requests = [d for c, d in take(DemoSource(seed=14), 10_000) if c == "ai.requests"]
    assert len(requests) > 500
    assert all(d["prompt_tokens"] > 0 and d["latency_ms"] > 0 for d in requests)
    assert {d["status"] for d in requests} >= {"success", "error"}


def test_alerts_name_a_metric_and_a_known_severity() -> None:
    alerts = [d for c, d in take(DemoSource(seed=15), 20_000) if c == "system.alerts"]
    assert len(alerts) > 100
    assert {d["severity"] for d in alerts} <= {"info", "warning", "error", "critical"}
    assert len({d["severity"] for d in alerts}) >= 3
    assert {d["metric_name"] for d in alerts} <= {
        "cpu_usage",
        "memory_usage",
        "latency_ms",
        "requests_per_s",
    }


# -- pacing ----------------------------------------------------------------------


class Enough(Exception):
    """Raised by a test's publish to end DemoSource.run."""


async def test_run_on_a_fake_clock_publishes_event_n_at_n_over_rate() -> None:
    clock = FakeClock(start=100.0)
    stamps: list[float] = []

    async def publish(channel: str, data: dict[str, Any]) -> None:
        stamps.append(clock.time())
        if len(stamps) == 50:
            raise Enough

    with pytest.raises(Enough):
        await DemoSource(seed=19, rate=20.0).run(publish, clock=clock)
    assert stamps == pytest.approx([100.0 + n / 20.0 for n in range(50)])


async def test_run_on_a_fake_clock_after_a_stall_sends_one_burst_and_resumes_from_then() -> None:
    clock = FakeClock()
    stamps: list[float] = []
    rate = 100.0

    async def publish(channel: str, data: dict[str, Any]) -> None:
        stamps.append(clock.time())
        if len(stamps) == 1:
            clock.advance(5.0)  # a blocked loop: 500 events overdue
        if len(stamps) == 30:
            raise Enough

    with pytest.raises(Enough):
        await DemoSource(seed=20, rate=rate).run(publish, clock=clock)
    burst = round(rate * CATCH_UP)
    assert stamps[1 : 1 + burst] == [5.0] * burst
    # Then a tick every TICK s, with the events due by then (about two at 100/s).
    after = stamps[1 + burst :]
    ticks = sorted(set(after))
    assert all(b - a == pytest.approx(TICK) for a, b in itertools.pairwise(ticks))
    assert ticks[0] == pytest.approx(5.0 + TICK)
    assert len(after) == pytest.approx((after[-1] - 5.0) * rate, abs=2)


async def test_run_on_a_fake_clock_spaces_a_ticks_events_one_over_rate_apart_in_time() -> None:
    clock = FakeClock()
    published: list[tuple[float, int]] = []
    rate = 200.0

    async def publish(channel: str, data: dict[str, Any]) -> None:
        published.append((clock.time(), parse_timestamp(data["timestamp"]) or 0))
        if len(published) == 40:
            raise Enough

    with pytest.raises(Enough):
        await DemoSource(seed=21, rate=rate).run(publish, clock=clock)
    ticks = defaultdict(list)
    for at, stamp in published:
        ticks[at].append(stamp)
    assert len(ticks) < len(published)  # several events a tick at 200/s
    for stamps in ticks.values():
        gaps = {round((b - a) / 1e6) for a, b in itertools.pairwise(stamps)}
        assert gaps <= {5}, gaps  # ms apart, in order


async def test_run_publishes_at_the_requested_rate_until_cancelled() -> None:
    loop = asyncio.get_running_loop()
    rate, target = 200.0, 100
    calls: list[tuple[float, str, dict[str, Any]]] = []
    reached = asyncio.Event()

    async def publish(channel: str, data: dict[str, Any]) -> None:
        calls.append((loop.time(), channel, data))
        if len(calls) == target:
            reached.set()

    started = loop.time()
    task = asyncio.create_task(DemoSource(seed=16, rate=rate).run(publish))
    try:
        await asyncio.wait_for(reached.wait(), timeout=30)
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    elapsed = calls[target - 1][0] - started
    # Never faster than the schedule (event n is due (n - 1) / rate after the
    # start); slower only by scheduling latency on a busy machine.
    assert (target - 1) / rate <= elapsed + 1e-3
    assert elapsed < (target - 1) / rate + 2.0
    assert task.cancelled()
    assert {channel for _, channel, _ in calls} <= set(CHANNELS)
    assert all(ISO.match(data["timestamp"]) for _, _, data in calls)


async def test_run_awaits_each_publish_and_stops_on_cancel() -> None:
    received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def publish(channel: str, data: dict[str, Any]) -> None:
        await received.put((channel, data))

    task = asyncio.create_task(
        DemoSource(seed=17, rate=500.0, channels=["ai.requests"]).run(publish)
    )
    first = [await asyncio.wait_for(received.get(), timeout=30) for _ in range(10)]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [channel for channel, _ in first] == ["ai.requests"] * 10


async def test_run_after_a_blocked_loop_catches_up_by_at_most_one_burst() -> None:
    loop = asyncio.get_running_loop()
    rate = 200.0
    stamps: list[float] = []
    enough = asyncio.Event()

    async def publish(channel: str, data: dict[str, Any]) -> None:
        stamps.append(loop.time())
        if len(stamps) == 1:
            stall_until = loop.time() + 0.3
            while loop.time() < stall_until:  # block the loop, as a slow cell would
                pass
        if len(stamps) == 40:
            enough.set()

    task = asyncio.create_task(DemoSource(seed=18, rate=rate).run(publish))
    try:
        await asyncio.wait_for(enough.wait(), timeout=30)
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The first wake after the stall publishes the capped burst back to back; 60
    # events were overdue, so without the cap far more would share that instant.
    burst = [t for t in stamps[1:] if t - stamps[1] < 0.5 / rate]
    assert 2 <= len(burst) <= round(rate * CATCH_UP)


async def test_closing_a_demo_server_at_any_moment_stops_the_demo_cleanly() -> None:
    # The demo's next step may already be scheduled when aclose() is called; it
    # must not run into the closing server (that used to fail the shutdown).
    for delay in [0.0, 0.0005, 0.001, 0.002, 0.003] * 4:
        srv = await aserve(api_key="k", demo=True, rate=5_000, seed=1)
        await asyncio.sleep(delay)
        await srv.aclose()
        assert srv.state is ServerState.CLOSED
        assert srv.metrics()["demo"] == "done"


async def test_a_tick_woken_late_stamps_each_event_at_least_one_over_rate_after_the_last() -> None:
    clock = FakeClock()
    stamps: list[int] = []

    async def publish(channel: str, data: dict[str, Any]) -> None:
        stamps.append(parse_timestamp(data["timestamp"]) or 0)
        if len(stamps) == 1:
            clock.advance(CATCH_UP)  # the next tick is late: its events are due at once
        if len(stamps) == 40:
            raise Enough

    with pytest.raises(Enough):
        await DemoSource(seed=22, rate=100.0).run(publish, clock=clock)
    assert all(b - a >= 10_000_000 for a, b in itertools.pairwise(stamps)), stamps
