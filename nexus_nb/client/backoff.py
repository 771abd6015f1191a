"""Reconnection delays: exponential backoff with full jitter."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays for successive reconnection attempts.

    Attempt ``n`` (from 0) waits a uniform random time in ``[0, min(cap, initial * 2**n)]``
    ("full jitter", which spreads many clients reconnecting to a restarted server
    better than a fixed or equal-jitter delay).

    Args:
        initial: Upper bound of the first delay, seconds (> 0).
        cap: Largest upper bound, seconds (>= initial).
        rng: Random source, for tests.

    Raises:
        ValueError: If ``initial`` is not positive or ``cap < initial``.
    """

    def __init__(self, initial: float, cap: float, *, rng: random.Random | None = None) -> None:
        if initial <= 0 or cap < initial:
            raise ValueError(f"backoff needs 0 < initial <= cap, got ({initial}, {cap})")
        self.initial = initial
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The delay before the next attempt, in seconds; advances the attempt count."""
        # Bound the exponent so 2**attempt never overflows on a client retrying for days.
        ceiling = min(self.cap, self.initial * 2 ** min(self.attempt, 64))
        self.attempt += 1
        return self._rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        """Start again from the first delay (after a successful connection)."""
        self.attempt = 0
