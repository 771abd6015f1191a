"""A LivePlot's frame rate while a cell computes, as a fraction of its rate while none runs.

A real kernel (nbclient, as Jupyter drives it) serves the demo at 200 events/s
on its own thread, connects a stream and displays a ``LivePlot`` of
``telemetry.metrics`` at the default 10 frames a second. The frames the frame
clock draws are counted (each call of the plot's ``render``, counted on the
clock's thread) over 10 s with no cell computing (the cell awaits, the kernel's
loop is free: the baseline of the same run), then over 10 s of CPU-bound pure
Python in a cell (which holds the GIL but for the interpreter's switch
interval), then over 10 s of ``time.sleep``. Before the frame clock had a
thread of its own a busy cell drew no frame at all.

Usage: ``.venv/bin/python benchmarks/bench_frames.py [--seconds 10] [--rounds 3]``
(about 40 s a round).
"""

from __future__ import annotations

import argparse
import json
import statistics

import nbformat
from figures import figure
from nbclient import NotebookClient

SETUP = """
import asyncio, json, time
import nexus_nb as nnb
server = nnb.serve(rate=200)
stream = nnb.connect(server.url, api_key=server.api_key)
stream.subscribe(["telemetry.metrics"])
plot = nnb.LivePlot(stream["telemetry.metrics"], y="value", color="source", window="30s")
display(plot)
frames = [0]
def _count():
    draw = plot.render
    def counted():
        frames[0] += 1
        draw()
    plot.render = counted
plot.clock.call(_count)
rates = {}
await asyncio.sleep(2)  # the first frames, and the traces made
"""
IDLE = "_n = frames[0]\nawait asyncio.sleep(SECONDS)\nrates['idle'] = (frames[0] - _n) / SECONDS"
CPU = """_n, _end, _x = frames[0], time.monotonic() + SECONDS, 0
while time.monotonic() < _end:
    _x += 1
rates['cpu'] = (frames[0] - _n) / SECONDS"""
SLEEP = "_n = frames[0]\ntime.sleep(SECONDS)\nrates['sleep'] = (frames[0] - _n) / SECONDS"
REPORT = "plot.close()\nstream.close()\nserver.close()\nprint('NNB_RATES ' + json.dumps(rates))"


def one_round(seconds: float) -> dict[str, float]:
    """Frames per second of one LivePlot: idle, during a CPU-bound cell, during a sleep."""
    cells = [f"SECONDS = {seconds}\n" + SETUP, IDLE, CPU, SLEEP, REPORT]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=False).execute()
    text = "".join(o.get("text", "") for c in nb.cells for o in c.outputs)
    rates: dict[str, float] = json.loads(text.split("NNB_RATES ", 1)[1])
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = [one_round(args.seconds) for _ in range(args.rounds)]
    median = {k: statistics.median(r[k] for r in rounds) for k in ("idle", "cpu", "sleep")}
    for r in rounds:
        print("  round: " + ", ".join(f"{k} {v:.1f} fps" for k, v in r.items()))
    print(
        f"LivePlot frames/s (median of {args.rounds}): idle {median['idle']:.1f}, "
        f"during {args.seconds:.0f} s of CPU-bound Python {median['cpu']:.1f} "
        f"({median['cpu'] / median['idle']:.2f} of idle), during time.sleep "
        f"{median['sleep']:.1f} ({median['sleep'] / median['idle']:.2f})"
    )
    for key, what in (
        ("cpu", "a LivePlot's frames/s while a cell runs CPU-bound pure Python"),
        ("sleep", "a LivePlot's frames/s while a cell sleeps"),
    ):
        figure(
            f"liveplot_fps_{key}",
            median[key],
            "frames/s",
            what=what,
            baseline=median["idle"],
            against="the same plot with no cell computing",
            better="higher",
        )


if __name__ == "__main__":
    main()
