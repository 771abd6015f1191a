"""A plot's group colours: stable per name across runs, and distinct within the plot.

Each name has a preferred slot of the palette, from a stable hash of the name
(``zlib.crc32``, not Python's per-process randomised ``hash()``), so a group keeps
its colour across runs and plots. Within one plot a name whose preferred colour is
already taken, or close to a taken one, takes the next slot (in palette order from
its preferred one) that is far enough from every colour in use; if none is, the
farthest free one. Names are placed in the order they first appear, so the same
names arriving in the same order always get the same colours, and up to
``len(palette)`` names all get different ones.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, overload

import plotly.colors

__all__ = ["CLOSE", "Palette", "colour_distance", "plot_palette", "preferred_slot"]

#: Colours closer than this (CIE76 delta E in CIELAB) count as the same within a
#: plot. About 2.3 is the smallest difference people notice side by side; thin lines
#: and legend swatches need far more. The pairs of plotly's stock colorway that the
#: eye takes for one colour on a chart lie below it: blue/purple (22), orange/yellow
#: (28), red/orange (34), purple/magenta (36), red/pink (41), pink/magenta (45: the
#: two "pinks"). Five of its ten colours are still pairwise above it.
CLOSE = 46.0

_TRAILING_NUMBER = re.compile(r"[0-9]{1,9}$")
_HEX = re.compile(r"#([0-9a-f]{3}|[0-9a-f]{6})", re.IGNORECASE)
_RGB = re.compile(r"rgba?\(\s*([0-9.]+)\s*,\s*([0-9.]+)\s*,\s*([0-9.]+)", re.IGNORECASE)

Lab = tuple[float, float, float]


def preferred_slot(name: str, size: int) -> int:
    """The palette slot ``name`` prefers, out of ``size``: the same in every process.

    A trailing number counts on from its prefix's slot, so ``server-01`` ..
    ``server-10`` (hosts, shards, workers) prefer ten different slots.
    """
    number = _TRAILING_NUMBER.search(name)
    if number is None:
        return zlib.crc32(name.encode()) % size
    prefix = name[: number.start()]
    return (zlib.crc32(prefix.encode()) + int(number.group())) % size


def _rgb(colour: str) -> tuple[float, float, float] | None:
    """``#rgb``, ``#rrggbb``, ``rgb()`` or ``rgba()`` as 0..1 floats; None for other forms."""
    text = colour.strip()
    if match := _HEX.fullmatch(text):
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        return (int(digits[0:2], 16) / 255, int(digits[2:4], 16) / 255, int(digits[4:6], 16) / 255)
    if match := _RGB.match(text):
        r, g, b = (min(float(v), 255.0) / 255 for v in match.groups())
        return (r, g, b)
    return None


def _lab(colour: str) -> Lab | None:
    """CIELAB (D65) of an sRGB colour, or None if the colour's form is not known."""
    rgb = _rgb(colour)
    if rgb is None:
        return None
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))


def _delta(a: Lab | None, b: Lab | None, same: bool) -> float:
    if a is None or b is None:
        # A named or hsl() colour: only the very same string counts as close.
        return 0.0 if same else float("inf")
    return float(sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) ** 0.5)


def colour_distance(first: str, second: str) -> float:
    """CIE76 delta E between two CSS colours (``inf`` if either is in an unknown form)."""
    return _delta(_lab(first), _lab(second), first.strip().lower() == second.strip().lower())


class Palette(Sequence[str]):
    """One plot's colours, and which name has which: a sequence of the colours.

    Args:
        colours: The palette, e.g. the plot's template colorway.

    Raises:
        ValueError: If ``colours`` is empty.
    """

    def __init__(self, colours: Iterable[str]) -> None:
        self._colours = tuple(str(c) for c in colours)
        if not self._colours:
            raise ValueError("a palette needs at least one colour")
        self._lab = [_lab(c) for c in self._colours]
        self._slot_of: dict[str, int] = {}
        self._uses = [0] * len(self._colours)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._colours[index]

    def __len__(self) -> int:
        return len(self._colours)

    def colour(self, name: str) -> str:
        """The colour of ``name`` in this plot, chosen the first time it is asked for."""
        slot = self._slot_of.get(name)
        if slot is None:
            slot = self._choose(name)
            self._slot_of[name] = slot
            self._uses[slot] += 1
        return self._colours[slot]

    def _choose(self, name: str) -> int:
        size = len(self._colours)
        start = preferred_slot(name, size)
        order = [(start + step) % size for step in range(size)]
        # Past len(palette) names, colours repeat: each round fills every slot once.
        round_ = min(self._uses)
        free = [slot for slot in order if self._uses[slot] == round_]
        used = [slot for slot in range(size) if self._uses[slot] > round_]

        def gap(slot: int) -> float:
            return min(
                (self._distance(slot, other) for other in used),
                default=float("inf"),
            )

        far = [slot for slot in free if gap(slot) >= CLOSE]
        # max() keeps the first of equals: ties go to the slot nearest the preferred one.
        return far[0] if far else max(free, key=gap)

    def _distance(self, a: int, b: int) -> float:
        same = self._colours[a].strip().lower() == self._colours[b].strip().lower()
        return _delta(self._lab[a], self._lab[b], same)

    def __repr__(self) -> str:
        return f"<Palette {len(self)} colours, {len(self._slot_of)} named>"


def plot_palette(layout: Any) -> Palette:
    """A fresh :class:`Palette` for a figure's layout: its colorway, else its template's.

    Plotly's stock colorway stands in when neither names one.
    """
    colours = layout.colorway or layout.template.layout.colorway
    return Palette(colours or plotly.colors.qualitative.Plotly)
