"""Benchmark the live widgets: cost per frame vs buffer size, message rate, two baselines.

Run: ``.venv/bin/python benchmarks/bench_widgets.py`` (about 90 s, one core);
``--help`` for a shorter run.

The plots read a real :class:`RingBuffer`, fed event messages as the client feeds
it (``extend``). A plot is drawn through its surface (one anywidget) as frames of
what changed; bytes are what the widget's comm is handed (JSON plus binary
buffers), captured by replacing the comm with a recorder; CPU is
``time.process_time``. Baselines, measured in the same run and captured the same
way at a ``FigureWidget``'s comm: *fair*, a ``FigureWidget`` whose traces get the
whole window of each group under one ``batch_update`` per frame; *naive*, the
same re-assigned on every event, run flat out for a second to measure the rate
it sustains.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import statistics
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import plotly.graph_objects as go

from nexus_nb.buffer import RingBuffer
from nexus_nb.columnar import format_timestamp
from nexus_nb.widgets import FrameClock, LivePlot
from nexus_nb.widgets.testing import RecordingComm, record_messages

T0 = 1_700_000_000_000_000_000
WINDOW_NS = 300 * 10**9
GROUPS = np.array(["agent-1", "agent-2", "agent-3", "agent-4"], dtype=object)
rng = np.random.default_rng(7)


def messages(rows: int, *, start_ns: int, span_ns: int, first: int = 0) -> list[dict[str, Any]]:
    """``rows`` event messages, as a client decodes them, spread over ``span_ns``."""
    idx = np.arange(rows)
    stamps = start_ns + (idx * (span_ns / rows)).astype(np.int64)
    sources = GROUPS[(idx + first) % len(GROUPS)]
    values = np.sin((idx + first) / 500.0) + rng.normal(0, 0.1, rows)
    return [
        {
            "type": "event",
            "channel": "telemetry.metrics",
            "timestamp": format_timestamp(int(t)),
            "data": {"source": s, "value": float(v)},
        }
        for t, s, v in zip(stamps, sources, values, strict=True)
    ]


def fill(buf: RingBuffer, rows: int, *, start_ns: int, span_ns: int, first: int = 0) -> None:
    """Append ``rows`` event messages spread evenly over ``span_ns`` from ``start_ns``."""
    chunk = 100_000
    for lo in range(0, rows, chunk):
        n = min(rows, lo + chunk) - lo
        start = start_ns + int(lo * span_ns / rows)
        buf.extend(messages(n, start_ns=start, span_ns=int(n * span_ns / rows), first=lo + first))


def frames_of(src: RingBuffer, frames: int, per_frame: int) -> Iterator[None]:
    """Append one frame's ``per_frame`` new rows (100 ms of event time), ``frames`` times."""
    now = T0 + WINDOW_NS
    for _ in range(frames):
        fill(src, per_frame, start_ns=now, span_ns=100_000_000)
        now += 100_000_000
        yield


def frame_cost(rows: int, *, frames: int = 60, per_frame: int = 1000) -> dict[str, float]:
    """CPU and bytes per steady-state frame of a plot over a source of ``rows`` rows."""
    src = RingBuffer(maxlen=rows + frames * per_frame)
    fill(src, rows, start_ns=T0, span_ns=WINDOW_NS)
    gc.collect()
    plot = LivePlot(src, color="source")
    rec = record_messages(plot)  # builds the plot's widget and plays the page showing it
    t = time.process_time()
    plot.render()
    catch_up = time.process_time() - t
    cpu, sent, msgs = [], [], []
    for _ in frames_of(src, frames, per_frame):
        rec.clear()
        t = time.process_time()
        plot.render()
        cpu.append(time.process_time() - t)
        sent.append(rec.total_bytes)
        msgs.append(len(rec.messages))
    traces = len(plot.figure.data)
    plot.close()
    return {
        "catch_up_ms": catch_up * 1e3,
        "cpu_ms": statistics.median(cpu) * 1e3,
        "bytes": statistics.median(sent),
        "bytes_per_trace": statistics.median(sent) / traces,
        "msgs": statistics.median(msgs),
        "points": max(len(tr.x) for tr in plot.figure.data),
    }


async def message_rate(
    *, window: str, seconds: float = 3.0, rate: int = 100_000
) -> dict[str, float]:
    """Messages/s of one displayed plot on the running clock while ingesting ``rate`` ev/s."""
    src = RingBuffer(maxlen=1_000_000)
    clock = FrameClock.shared()  # ticks on its own thread, which owns the plot's widget
    plot = LivePlot(src, color="source", window=window, clock=clock)
    rec = clock.call(lambda: record_messages(plot))  # a page shows it
    batch = rate // 100  # 100 appends a second
    # Built before the clock starts: the figure is the plot's cost, not the feeder's.
    feed = messages(int(rate * seconds) + batch, start_ns=T0, span_ns=int(seconds * 1e9))
    start = time.perf_counter()
    cpu0 = time.process_time()
    appended = 0
    while time.perf_counter() - start < seconds and appended + batch <= len(feed):
        src.extend(feed[appended : appended + batch])
        appended += batch
        await asyncio.sleep(max(0.0, start + appended / rate - time.perf_counter()))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    result = {
        "ingested_per_s": appended / elapsed,
        "msgs_per_s": len(rec.messages) / elapsed,
        "clock_msgs_per_s": clock.message_rate(),
        "clock_fps": clock.frame_rate(),
        "bytes_per_s": rec.total_bytes / elapsed,
        "cpu_share": cpu / elapsed,
    }
    plot.close()
    clock.close()
    return result


def figure_widget(**kwargs: Any) -> tuple[go.FigureWidget, RecordingComm]:
    """A baseline ``FigureWidget`` whose comm is a recorder, as the plot's is."""
    fig = go.FigureWidget(**kwargs)
    rec = RecordingComm()
    fig.comm = rec  # plotly's widget sends through it, as through a kernel's comm
    return fig, rec


def fair(rows: int, *, frames: int = 5, per_frame: int = 1000) -> dict[str, float]:
    """CPU and bytes per frame of a FigureWidget given each group's whole window per frame."""
    src = RingBuffer(maxlen=rows)
    fill(src, rows, start_ns=T0, span_ns=WINDOW_NS)
    fig, rec = figure_widget(
        data=[go.Scatter(x=[], y=[], name=g) for g in GROUPS], layout={"xaxis": {"type": "date"}}
    )
    cpu, sent, msgs = [], [], []
    for _ in frames_of(src, frames, per_frame):
        rec.clear()
        t = time.process_time()
        df = src.to_dataframe(last="5min")
        with fig.batch_update():
            for trace, (_, rows_of) in zip(fig.data, df.groupby("source"), strict=False):
                trace.x = rows_of["timestamp"].to_numpy()
                trace.y = rows_of["value"].to_numpy()
        cpu.append(time.process_time() - t)
        sent.append(rec.total_bytes)
        msgs.append(len(rec.messages))
    fig.close()
    return {
        "cpu_ms": statistics.median(cpu) * 1e3,
        "bytes": statistics.median(sent),
        "msgs": statistics.median(msgs),
    }


def naive(points: int, *, seconds: float = 1.0) -> dict[str, float]:
    """A FigureWidget whose whole arrays are re-assigned on every event, run flat out."""
    fig, rec = figure_widget(data=[go.Scatter(x=[], y=[])], layout={"xaxis": {"type": "date"}})
    x = (T0 / 1e6) + np.arange(points, dtype=np.float64)
    y = rng.random(points)
    events = 0
    start, t = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        x = np.append(x[1:], x[-1] + 1)
        y = np.append(y[1:], float(events))
        with fig.batch_update():
            fig.data[0].x = x
            fig.data[0].y = y
        events += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - t
    fig.close()
    return {
        "events_per_s": events / elapsed,
        "cpu_ms": cpu / events * 1e3,
        "bytes": rec.total_bytes / events,
        "msgs": len(rec.messages) / events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1_000, 100_000, 1_000_000],
        help="buffer sizes measured, comma-separated (default 1000,100000,1000000)",
    )
    parser.add_argument("--frames", type=int, default=60, help="steady frames per size")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="ingest time per message-rate run"
    )
    parser.add_argument(
        "--points",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1_000, 10_000, 100_000],
        help="trace lengths of the naive baseline, comma-separated",
    )
    args = parser.parse_args()
    sizes: list[int] = args.rows
    print("== LivePlot steady-state frame (4 groups, 5 min window, 1000 new rows per frame)")
    costs = {}
    for rows in sizes:
        c = costs[rows] = frame_cost(rows, frames=args.frames)
        print(
            f"{rows:>9,} rows: cpu {c['cpu_ms']:6.2f} ms/frame, {c['bytes'] / 1024:6.1f} KB/frame"
            f" ({c['bytes_per_trace'] / 1024:5.1f} KB/trace, max {c['points']:.0f} pts/trace),"
            f" {c['msgs']:.0f} msgs/frame; first frame {c['catch_up_ms']:.0f} ms"
        )
    base = costs[sizes[0]]
    for before, rows in itertools.pairwise(sizes):
        versus = (
            ""
            if before == sizes[0]
            else f"; vs {before:,}: cpu {costs[rows]['cpu_ms'] / costs[before]['cpu_ms']:.2f}x,"
            f" bytes {costs[rows]['bytes'] / costs[before]['bytes']:.2f}x"
        )
        print(
            f"  ratio {rows:,}/{sizes[0]:,}: cpu {costs[rows]['cpu_ms'] / base['cpu_ms']:.2f}x,"
            f" bytes {costs[rows]['bytes'] / base['bytes']:.2f}x{versus}"
        )
    print("== one displayed LivePlot on the shared FrameClock (10 fps) while ingesting 100k ev/s")
    for window in ("5min", "3s"):
        m = asyncio.run(message_rate(window=window, seconds=args.seconds))
        print(
            f"window {window:>4}: ingested {m['ingested_per_s']:,.0f} ev/s:"
            f" {m['msgs_per_s']:.1f} msgs/s at the comm (clock measured"
            f" {m['clock_msgs_per_s']:.1f} msgs/s, {m['clock_fps']:.1f} fps),"
            f" {m['bytes_per_s'] / 1024:.0f} KB/s,"
            f" CPU (buffering and plot) {m['cpu_share']:.0%} of one core"
        )
    print("== fair baseline: FigureWidget given each group's window, one batch_update a frame")
    for rows in sizes:
        f = fair(rows)
        c = costs[rows]
        print(
            f"{rows:>9,} rows: cpu {f['cpu_ms']:7.2f} ms/frame, {f['bytes'] / 1024:8.1f} KB/frame,"
            f" {f['msgs']:.0f} msgs/frame; LivePlot/fair: cpu {c['cpu_ms'] / f['cpu_ms']:.3f}x,"
            f" bytes {c['bytes'] / f['bytes']:.3f}x, msgs {c['msgs'] / f['msgs']:.2f}x"
        )
    print("== naive baseline: FigureWidget re-assigned the whole buffer on every event, flat out")
    for points in args.points:
        n = naive(points)
        print(
            f"{points:>9,} points: sustains {n['events_per_s']:8,.0f} ev/s"
            f" ({n['cpu_ms']:6.2f} ms CPU/event, {n['bytes'] / 1024:8.1f} KB/event,"
            f" {n['msgs']:.0f} msgs/event), measured over 1 s; the LivePlot above ingested"
            f" 100k ev/s"
        )


if __name__ == "__main__":
    main()
