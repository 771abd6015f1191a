"""What one batched subscriber costs the server per event: row vs columnar frames.

A batched subscriber's events are framed at flush time, once per subscriber
(``Batcher.flush`` in ``nexus_nb/server/peer.py``): a row batch joins the events'
already-encoded messages; a columnar batch transposes their data and encodes it.
This times exactly those steps on 100-event batches of the reference metric
event, with the row batch as the baseline. For scale, a single-event frame is
built once per event and shared by every unbatched subscriber.

Run: ``.venv/bin/python benchmarks/bench_batch.py`` (a few seconds, one core).
"""

from __future__ import annotations

from collections.abc import Callable

from figures import figure
from workload import CHANNEL, median_time, metric

from nexus_nb import protocol
from nexus_nb.server.eventlog import Entry, MemoryEventLog
from nexus_nb.server.frame import text_frame

EVENTS = 20_000
BATCH = 100


def entries() -> list[Entry]:
    log = MemoryEventLog([CHANNEL], retention=EVENTS)
    out = []
    for i in range(EVENTS):
        message = metric(i)
        out.append(log.append(CHANNEL, message["data"], message["timestamp"]))
    return out


def per_event(run: Callable[[], object]) -> float:
    """Median CPU seconds per event of ``run`` (which frames all EVENTS events)."""
    return median_time(run, repeats=7).cpu / EVENTS


def main() -> None:
    logged = entries()
    chunks = [logged[i : i + BATCH] for i in range(0, EVENTS, BATCH)]

    def single() -> None:
        for entry in logged:
            text_frame(entry.payload)

    def rows() -> None:
        for chunk in chunks:
            _, _, _, _, payloads = zip(*chunk, strict=True)
            text_frame(protocol.event_batch(CHANNEL, payloads))

    def columns() -> None:
        for chunk in chunks:
            _, seqs, stamps, datas, _ = zip(*chunk, strict=True)
            text_frame(protocol.event_columns(CHANNEL, seqs, stamps, datas))

    base = per_event(single)
    row = per_event(rows)
    col = per_event(columns)
    row_bytes = sum(len(protocol.event_batch(CHANNEL, [e.payload for e in c])) for c in chunks)
    col_bytes = sum(
        len(
            protocol.event_columns(
                CHANNEL, [e.seq for e in c], [e.timestamp for e in c], [e.data for e in c]
            )
        )
        for c in chunks
    )
    print(f"server CPU per event and batched subscriber, {BATCH}-event batches of metric events:")
    print(f"  row batch             {row * 1e9:7.0f} ns  (1.00x)")
    print(f"  columnar batch        {col * 1e9:7.0f} ns  ({col / row:.2f}x)")
    print(f"  (one single-event frame, shared by all unbatched subscribers: {base * 1e9:.0f} ns)")
    print(
        f"bytes per event: row {row_bytes / EVENTS:.0f} B, columnar {col_bytes / EVENTS:.0f} B "
        f"({col_bytes / row_bytes:.2f}x)"
    )
    what = "server CPU per event and batched subscriber"
    figure("row_batch", row * 1e9, "ns", what=f"{what}, row batch of {BATCH}")
    figure(
        "columnar_batch",
        col * 1e9,
        "ns",
        what=f"{what}, columnar batch of {BATCH}",
        baseline=row * 1e9,
        against="row batch",
    )


if __name__ == "__main__":
    main()
