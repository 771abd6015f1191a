"""Pacing: the one schedule behind the demo, ``Server.replay`` and ``nexus-nb publish``."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from nexus_nb.server.pace import Backlog, FakeClock, Pacer, Schedule

# -- Schedule: no clock, plain calls --------------------------------------------


def test_schedule_releases_items_at_their_offsets_without_drift() -> None:
    schedule = Schedule(((n * 0.1, n) for n in itertools.count()), 10.0, max_batch=5)
    assert schedule.release(9.99) == []
    assert schedule.release(10.0) == [0]
    assert schedule.release(10.05) == []
    assert schedule.release(10.25) == [1, 2]
    assert schedule.due_at() == pytest.approx(10.3)
    assert schedule.release(10.31) == [3]
    assert schedule.due_at() == pytest.approx(10.4)


def test_schedule_shift_caps_a_backlog_at_one_batch_and_resumes_from_then() -> None:
    schedule = Schedule(
        ((n * 0.1, n) for n in itertools.count()), 10.0, max_batch=5, backlog=Backlog.SHIFT
    )
    assert schedule.release(10.0) == [0]
    assert schedule.release(20.0) == [1, 2, 3, 4, 5]
    assert schedule.due_at() == pytest.approx(20.1)
    assert schedule.release(20.1) == [6]


def test_schedule_catch_up_releases_the_whole_backlog_a_batch_at_a_time() -> None:
    schedule = Schedule(((n * 0.1, n) for n in range(12)), 0.0, max_batch=5)
    assert schedule.release(5.0) == [0, 1, 2, 3, 4]
    assert schedule.due_at() == 5.0  # overdue: as soon as the last batch went
    assert schedule.release(5.0) == [5, 6, 7, 8, 9]
    assert schedule.release(5.0) == [10, 11]
    assert schedule.due_at() is None
    assert schedule.release(6.0) == []


def test_schedule_spacing_coalesces_what_falls_due_meanwhile() -> None:
    schedule = Schedule(((n * 0.005, n) for n in range(10)), 0.0, max_batch=100, min_spacing=0.02)
    assert schedule.release(0.0) == [0]
    # Item 1 is due at 0.005 but the next batch may only go 0.02 after the last.
    assert schedule.due_at() == pytest.approx(0.02)
    assert schedule.release(0.01) == []
    assert schedule.release(0.02) == [1, 2, 3, 4]
    assert schedule.release(0.05) == [5, 6, 7, 8, 9]


def test_schedule_spacing_holds_nothing_due_at_the_start() -> None:
    schedule = Schedule(((0.0, n) for n in range(5)), 0.0, max_batch=2, min_spacing=1.0)
    assert [schedule.release(0.0) for _ in range(3)] == [[0, 1], [2, 3], [4]]


def test_schedule_key_keeps_each_batch_to_one_key() -> None:
    items = [(0.0, ("a", 1)), (0.0, ("a", 2)), (0.0, ("b", 3)), (0.0, ("a", 4))]
    schedule = Schedule(items, 0.0, max_batch=10, key=lambda item: item[0])
    assert [schedule.release(0.0) for _ in range(3)] == [
        [("a", 1), ("a", 2)],
        [("b", 3)],
        [("a", 4)],
    ]


def test_schedule_item_earlier_than_its_predecessor_goes_right_after_it() -> None:
    schedule = Schedule([(1.0, "late"), (0.5, "out of order"), (2.0, "last")], 0.0, max_batch=5)
    assert schedule.release(0.9) == []
    assert schedule.release(1.0) == ["late", "out of order"]
    assert schedule.release(2.0) == ["last"]


@pytest.mark.parametrize(("max_batch", "min_spacing"), [(0, 0.0), (1, -0.1)])
def test_schedule_and_pacer_refuse_bad_bounds(max_batch: int, min_spacing: float) -> None:
    with pytest.raises(ValueError, match=r"max_batch|min_spacing"):
        Schedule([], 0.0, max_batch=max_batch, min_spacing=min_spacing)
    with pytest.raises(ValueError, match=r"max_batch|min_spacing"):
        Pacer([], max_batch=max_batch, min_spacing=min_spacing)


# -- Pacer on a fake clock ---------------------------------------------------------


async def test_pacer_sleeps_until_each_batch_is_due_from_the_first_iteration() -> None:
    clock = FakeClock(start=50.0)
    pacer = Pacer([(0.0, "a"), (0.25, "b"), (1.0, "c")], clock=clock)
    clock.advance(10.0)  # the schedule starts when iteration does, not at construction
    released = [(clock.time(), batch) async for batch in pacer]
    assert released == [(60.0, ["a"]), (60.25, ["b"]), (61.0, ["c"])]
    assert clock.sleeps == [0.0, 0.25, 0.75]


async def test_pacer_keeps_the_schedule_when_publishing_takes_time() -> None:
    clock = FakeClock()
    released = []
    async for batch in Pacer(((n * 1.0, n) for n in range(4)), clock=clock, max_batch=10):
        released.append((clock.time(), batch))
        clock.advance(0.4)  # each publish takes 0.4 s: the next still comes on time
    assert released == [(0.0, [0]), (1.0, [1]), (2.0, [2]), (3.0, [3])]


async def test_pacer_unpaced_yields_to_the_loop_between_batches() -> None:
    ran: list[int] = []

    async def other() -> None:
        for n in itertools.count():
            ran.append(n)
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    seen: list[int] = []
    async for batch in Pacer(((0.0, n) for n in range(10)), max_batch=4):
        seen.append(len(ran))
        assert len(batch) <= 4
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen[0] < seen[1] < seen[2]


async def test_pacer_of_nothing_ends_at_once() -> None:
    assert [batch async for batch in Pacer([], clock=FakeClock())] == []
