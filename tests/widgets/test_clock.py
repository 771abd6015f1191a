"""The frame clock, driven tick by tick with a fake time, and on its own thread."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

from nexus_nb.widgets import FrameClock, LivePlot
from nexus_nb.widgets.clock import ClockState
from nexus_nb.widgets.testing import (
    MemorySource,
    RecordingComm,
    record_messages,
    send_from_page,
)
from tests.helpers.waiting import poll

T0 = 1_700_000_000_000_000_000


class FakeView:
    """A view whose frames cost ``cost`` messages each."""

    def __init__(self, *, cost: int = 4, fps: float | None = None) -> None:
        self.fps = fps
        self.cost = cost
        self.messages_sent = 0
        self.frames = 0
        self.fail: Exception | None = None
        self.shown: list[BaseException | None] = []

    def pending(self) -> bool:
        return True

    def render(self) -> None:
        if self.fail is not None:
            raise self.fail
        self.frames += 1
        self.messages_sent += self.cost

    def show_error(self, error: BaseException | None) -> None:
        self.shown.append(error)


def _feed(src: MemorySource, i: int) -> None:
    src.append({"timestamp": [T0 + i * 1_000_000], "value": [float(i)]})


def test_the_message_budget_holds_across_many_plots_counted_at_their_comms() -> None:
    clock = FrameClock(fps=10, budget=100, timer=lambda: 0.0)
    plots, comms = [], []
    for _ in range(12):
        src = MemorySource()
        # No window: each plot wants the clock's 10 frames a second, 120 in all.
        plot = LivePlot(src, window=None, clock=clock)
        comms.append(record_messages(plot))
        plots.append((plot, src))
    seconds = 5
    for tick in range(10 * seconds):
        for _, src in plots:
            _feed(src, tick)
        clock.tick(now=tick / 10)
    sent = sum(len(c.messages) for c in comms)
    assert sent <= 100 * seconds + clock._burst + 8
    assert sent >= 0.8 * 100 * (seconds - 1)  # the budget is used, not starved
    assert clock.skipped > 0
    assert all(len(c.messages) for c in comms)  # round-robin: every plot got frames


def test_views_are_rendered_at_most_at_their_own_frame_rate() -> None:
    clock = FrameClock(fps=10, budget=10_000)
    slow, fast = FakeView(fps=2), FakeView()
    clock.register(slow)
    clock.register(fast)
    for tick in range(30):
        clock.tick(now=tick / 10)
    assert fast.frames == 30
    assert slow.frames == 6


def test_a_view_with_costly_frames_gets_fewer_frames_within_its_own_budget() -> None:
    clock = FrameClock(fps=10, budget=1000, view_budget=40)
    costly, cheap = FakeView(cost=8), FakeView(cost=2)
    clock.register(costly)
    clock.register(cheap)
    seconds = 10
    for tick in range(10 * seconds):
        clock.tick(now=tick / 10)
    assert costly.messages_sent <= 40 * seconds + 8 + 8
    assert costly.frames >= 0.9 * 40 * (seconds - 1) / 8
    assert cheap.frames == 10 * seconds


def test_measured_frame_and_message_rates_follow_what_was_rendered() -> None:
    now = [0.0]
    clock = FrameClock(fps=10, budget=10_000, timer=lambda: now[0])
    view = FakeView(cost=3)
    clock.register(view)
    for tick in range(25):
        now[0] = tick / 10
        clock.tick()
    assert clock.frame_rate() == pytest.approx(10, rel=0.15)
    assert clock.message_rate() == pytest.approx(30, rel=0.15)


def test_a_failing_view_keeps_its_error_shown_until_a_frame_succeeds() -> None:
    clock = FrameClock()
    view = FakeView()
    view.fail = RuntimeError("boom")
    clock.register(view)
    clock.tick(now=0.0)
    clock.tick(now=1.0)
    assert [str(e) for e in view.shown] == ["boom", "boom"]
    assert clock.errors == 2
    view.fail = None
    clock.tick(now=2.0)
    assert view.shown[-1] is None
    clock.tick(now=3.0)
    assert len(view.shown) == 3  # cleared once, not on every frame


def test_a_garbage_view_drops_out_of_the_clock() -> None:
    clock = FrameClock()
    view = FakeView()
    clock.register(view)
    assert clock.views == 1
    del view
    gc.collect()
    clock.tick(now=0.0)
    assert clock.views == 0


def test_a_closed_plot_leaves_the_clock() -> None:
    clock = FrameClock()
    plot = LivePlot(MemorySource(), clock=clock)
    assert clock.views == 1
    plot.close()
    assert clock.views == 0


def test_a_plot_whose_widget_was_closed_directly_leaves_the_clock() -> None:
    clock = FrameClock()
    plot = LivePlot(MemorySource(), clock=clock)
    plot.widget.close()
    clock.tick(now=1.0)
    assert clock.views == 0


def test_a_closed_clock_refuses_views() -> None:
    clock = FrameClock()
    clock.close()
    assert clock.state is ClockState.CLOSED
    with pytest.raises(RuntimeError, match="closed"):
        clock.register(FakeView())


def test_without_a_running_loop_a_plot_has_no_clock_and_renders_on_demand() -> None:
    src = MemorySource()
    _feed(src, 1)
    plot = LivePlot(src)
    assert plot.clock is None
    plot.render()
    assert len(plot.figure.data[0].x) == 1


class _ThreadNoting(RecordingComm):
    """A recorder that notes the thread of every message sent through it."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []
        self.sent = threading.Event()

    def send(self, *args: object, **kwargs: object) -> None:
        self.threads.append(threading.current_thread().name)
        super().send(*args, **kwargs)  # type: ignore[arg-type]
        self.sent.set()


def test_the_shared_clock_is_one_per_process_and_ticks_on_its_own_thread() -> None:
    src = MemorySource()
    clock = FrameClock.shared()
    assert FrameClock.shared() is clock  # a re-run cell reuses it
    try:
        first = LivePlot(src, clock=clock)
        second = LivePlot(src, clock=clock)
        assert clock.state is ClockState.RUNNING
        comm = _ThreadNoting()

        def show() -> None:  # a page shows the second plot
            second.widget.comm = comm
            second.widget.displayed = True

        clock.call(show)
        _feed(src, 1)
        assert comm.sent.wait(timeout=5)
        assert clock.call(lambda: len(second.figure.data[0].x)) == 1
        assert clock.call(lambda: second.figure.data) != ()
        assert clock.call(lambda: first.figure.data) == ()  # never displayed, never drawn
        assert set(comm.threads) == {"nexus_nb frames"}
    finally:
        clock.close()
    assert clock.state is ClockState.CLOSED
    assert "nexus_nb frames" not in {t.name for t in threading.enumerate()}
    assert FrameClock.shared() is not clock
    FrameClock.shared().close()


def test_a_page_message_is_handled_on_the_clocks_thread() -> None:
    clock = FrameClock(thread=True)
    try:
        plot = LivePlot(MemorySource(), clock=clock)
        handled: list[str] = []
        clock.call(lambda: record_messages(plot))
        part = plot.part
        part._on_event = lambda _content: handled.append(threading.current_thread().name)
        send_from_page(plot, {"t": "event", "part": 0, "button": "mode"})
        assert poll(lambda: handled, timeout=5, step=0.01)
        assert handled == ["nexus_nb frames"]
    finally:
        clock.close()


def test_the_clock_task_ends_when_the_last_view_is_gone_and_starts_with_the_next() -> None:
    clock = FrameClock(fps=50, thread=True)
    view = FakeView()
    clock.register(view)
    try:
        assert poll(lambda: view.frames > 0, timeout=5)
        clock.unregister(view)
        assert poll(lambda: clock.state is ClockState.IDLE, timeout=5, step=0.01)
        frames = view.frames
        clock.register(view)
        assert poll(lambda: view.frames > frames, timeout=5, step=0.01)
    finally:
        clock.close()


def test_a_clock_made_directly_has_no_thread_and_ticks_by_hand() -> None:
    clock = FrameClock()
    view = FakeView()
    clock.register(view)
    assert clock.state is ClockState.IDLE
    assert clock.owns()
    clock.tick(now=0.0)
    assert view.frames == 1


def test_rejects_non_positive_fps_and_budget() -> None:
    with pytest.raises(ValueError, match="positive"):
        FrameClock(fps=0)
    with pytest.raises(ValueError, match="positive"):
        FrameClock(budget=-1)


def test_repr_is_cheap_and_says_the_state() -> None:
    assert repr(FrameClock()) == "<FrameClock idle views=0 fps=10>"
    assert np.isfinite(FrameClock().frame_rate())


def test_page_messages_past_max_posts_make_the_sender_wait_and_none_is_dropped() -> None:
    clock = FrameClock(thread=True, max_posts=2)
    view = FakeView()
    clock.register(view)
    release = threading.Event()
    done: list[int] = []
    try:
        clock.post(lambda: release.wait(5))  # holds the clock's thread
        clock.post(lambda: done.append(1))
        sender = threading.Thread(target=lambda: clock.post(lambda: done.append(2)))
        sender.start()
        assert poll(lambda: clock.post_waits == 1, timeout=5, step=0.01)
        assert sender.is_alive()  # waiting for a place, not dropped
        release.set()
        sender.join(5)
        assert poll(lambda: done == [1, 2], timeout=5, step=0.01)
    finally:
        release.set()
        clock.close()
