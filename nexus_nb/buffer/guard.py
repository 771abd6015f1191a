"""The lock every buffer and aggregate method takes: how a buffer is shared by threads.

A stream's reader thread writes a buffer while a cell, a view's frame thread or
an export reads it. Every public method of :class:`~nexus_nb.buffer.RingBuffer`
and of its live aggregates runs under the buffer's one re-entrant lock, so a read
sees whole frames and a write never interleaves with another. Re-entrant because
storing rows folds them into the aggregates, which read the buffer back.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

__all__ = ["Locked", "locked"]

P = ParamSpec("P")
R = TypeVar("R")


class Locked(Protocol):
    """An object whose methods run under its ``lock``."""

    @property
    def lock(self) -> threading.RLock:
        """The lock held while a method runs."""
        ...


S = TypeVar("S", bound=Locked)


def locked(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Run ``method`` while holding ``self.lock``."""

    @functools.wraps(method)
    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            return method(self, *args, **kwargs)

    return run
