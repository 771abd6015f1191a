"""Telling a plain call from an awaited one, as a notebook cell makes them."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Coroutine
from typing import Any

from nexus_nb.thread import awaited, plain_or_awaitable


class Probe:
    """Awaitable and an async context manager; ``awaited`` is what :func:`probe` was told."""

    def __init__(self, was_awaited: bool) -> None:
        self.awaited = was_awaited

    def __await__(self) -> Any:
        return iter(())

    async def __aenter__(self) -> Probe:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


SEEN: list[Probe] = []


def probe() -> Probe:
    """What a dual call does first: ask whether its caller awaits it."""
    SEEN.append(Probe(awaited()))
    return SEEN[-1]


def cell(source: str) -> list[bool]:
    """Run ``source`` as IPython runs a cell (top-level await allowed); what each probe saw."""
    code = compile(source, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    SEEN.clear()
    result = eval(code, {"probe": probe})  # the cell is this test's own source
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    return [p.awaited for p in SEEN]


def test_a_cell_without_await_makes_plain_calls() -> None:
    assert cell("x = probe()\nprobe()\ny = [probe() for _ in range(2)]") == [False] * 4


def test_a_call_awaited_at_the_top_of_a_cell_is_awaited_and_its_neighbours_stay_plain() -> None:
    assert cell("a = probe()\nb = await probe()\nprobe()\nasync with probe():\n    pass") == [
        False,
        True,
        False,
        True,
    ]


def test_every_call_inside_async_code_is_awaitable_awaited_or_not() -> None:
    assert cell("async def f():\n    await probe()\n    return probe()\nawait f()") == [True, True]


def test_a_plain_function_called_from_async_code_makes_plain_calls() -> None:
    assert cell("def g():\n    return probe()\nasync def f():\n    await g()\nawait f()") == [False]


def test_plain_or_awaitable_hands_back_the_work_or_blocks_on_it() -> None:
    async def work() -> int:
        return 7

    def block(coro: Coroutine[Any, Any, int]) -> int:
        return asyncio.run(coro)

    pending = plain_or_awaitable(work(), True, block)
    assert asyncio.iscoroutine(pending)
    assert asyncio.run(pending) == 7
    assert plain_or_awaitable(work(), False, block) == 7
