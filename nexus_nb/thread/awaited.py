"""Whether a call's result will be awaited: the switch between plain and awaitable calls.

Inside an ``async def`` a call is always awaitable (it may be awaited later, or
passed to ``asyncio.gather``). Elsewhere (a notebook cell's top level, with or
without top-level ``await``, or a plain function) it is awaited exactly when
the instruction after the call is ``GET_AWAITABLE`` (``await f()``) or
``BEFORE_ASYNC_WITH`` (``async with f():``); CPython compiles those the same
way from 3.11 on. Everything else is a plain call.
"""

from __future__ import annotations

import dis
import functools
import inspect
import sys
from collections.abc import Callable, Coroutine
from types import CodeType
from typing import Any, TypeVar, cast

__all__ = ["awaited", "plain_or_awaitable"]

T = TypeVar("T")

_ASYNC_CODE = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE
_AWAITING = frozenset({"GET_AWAITABLE", "BEFORE_ASYNC_WITH"})


def awaited(depth: int = 1) -> bool:
    """Whether the caller ``depth`` frames above the function asking can await its result.

    ``depth=1`` (the default) is the direct caller of the function that calls
    ``awaited()``; a wrapper adds one.
    """
    frame = sys._getframe(depth + 1)
    code = frame.f_code
    if code.co_flags & _ASYNC_CODE and code.co_name != "<module>":
        return True
    return _awaits_after(code, frame.f_lasti)


@functools.lru_cache(maxsize=4096)
def _awaits_after(code: CodeType, lasti: int) -> bool:
    for instruction in dis.get_instructions(code):
        if instruction.offset > lasti:
            return instruction.opname in _AWAITING
    return False


def plain_or_awaitable(
    work: Coroutine[Any, Any, T],
    awaiting: bool,
    block: Callable[[Coroutine[Any, Any, T]], T],
) -> Coroutine[Any, Any, T]:
    """``work`` itself for a caller that awaits it; for a plain call, ``block(work)``'s result.

    Typed as the awaitable form, which async code uses: a plain caller (a cell
    without ``await``) gets the result itself.
    """
    if awaiting:
        return work
    return cast("Coroutine[Any, Any, T]", block(work))
