"""The thread model in a real kernel: views draw while a cell computes, on their own thread.

The server runs in another process (``python -m nexus_nb serve``), so the GIL
of the busy cell does not slow its traffic; the kernel is a real ipykernel
driven by nbclient, as Jupyter drives it.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers.keys import KEY
from tests.helpers.paths import ROOT

CELLS = [
    # Every comm send and every page event the view handles is recorded with its thread.
    """
import collections, threading, time
import nexus_nb as nnb

touched = collections.Counter()  # (what, thread name) -> count
comm_class = None

def note(what):
    touched[what, threading.current_thread().name] += 1

stream = nnb.connect(URL, api_key=KEY)
stream.subscribe("telemetry.metrics")
buf = stream["telemetry.metrics"]
plot = nnb.LivePlot(buf, y="value", color="source", fps=10)
display(plot)
comm_class = type(plot.widget.comm)
original = comm_class.publish_msg

def recording(self, *args, **kwargs):
    note("send")
    return original(self, *args, **kwargs)

comm_class.publish_msg = recording

handle = plot.part.on_event

def on_event(content):  # where the view reads a page message
    note("event")
    return handle(content)

plot.part.on_event = on_event
""",
    # The busy cell: the kernel's main thread sleeps 5 s; a page click arrives
    # meanwhile on another thread, as a JupyterLab subshell delivers it.
    """
page = {"t": "event", "part": 0, "button": "mode"}  # the plot's pause button, clicked
click = {"content": {"data": {"method": "custom", "content": page}}, "buffers": []}
for i in range(5):
    sent = touched["send", "nexus_nb frames"]
    time.sleep(1)
    print("NNB_LEN", len(buf), "NNB_SENT", touched["send", "nexus_nb frames"] - sent)
    if i == 3:
        subshell = threading.Thread(
            target=plot.widget.comm.handle_msg, args=(click,), name="subshell-x"
        )
        subshell.start()
        subshell.join()
print("NNB_MODE", plot.view_mode)
""",
    """
stream.close()
plot.close()
comm_class.publish_msg = original
print("NNB_TOUCHED", sorted({thread for (_, thread) in touched}))
print("NNB_KINDS", sorted({what for (what, _) in touched}))
print("NNB_THREADS", sorted(t.name for t in threading.enumerate() if t.name.startswith("nexus_nb")))
""",
]


@pytest.fixture
def server_url() -> Iterator[str]:
    """A demo server at 1,000 events/s in a process of its own."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nexus_nb",
            "serve",
            "--api-key",
            KEY,
            "--demo",
            "--rate",
            "1000",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("ws://127.0.0.1:"), url
        yield url
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def run_cells(cells: list[str]) -> str:
    """Run ``cells`` in a fresh kernel; return everything they printed."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=60, kernel_name="python3", store_widget_state=False).execute()
    return "".join(o.get("text", "") for c in nb.cells for o in c.outputs)


def test_while_a_cell_sleeps_the_buffer_grows_the_plot_draws_and_a_click_acts_all_on_one_thread(
    server_url: str,
) -> None:
    setup = f"URL = {server_url!r}\nKEY = {KEY!r}\n"
    text = run_cells([setup + CELLS[0], *CELLS[1:]])

    seconds = re.findall(r"NNB_LEN (\d+) NNB_SENT (\d+)", text)
    assert len(seconds) == 5, text
    sizes = [int(n) for n, _ in seconds]
    assert sizes[0] > 0, text
    assert all(b > a for a, b in itertools.pairwise(sizes)), sizes
    # The view kept drawing during the cell: frames went out every second until the
    # click (after the fourth second) paused it.
    assert all(int(sent) > 0 for _, sent in seconds[:4]), seconds
    assert "NNB_MODE paused" in text  # the click from another thread acted during the cell
    assert "NNB_TOUCHED ['nexus_nb frames']" in text, text
    assert "NNB_KINDS ['event', 'send']" in text, text
    assert "NNB_THREADS ['nexus_nb frames']" in text, text  # the reader is gone, the clock stays


RERUN = """
import nexus_nb as nnb
server = nnb.serve(rate=200)
stream = nnb.connect(server.url, api_key=server.api_key)
stream.subscribe(["telemetry.metrics"])
nnb.LivePlot(stream["telemetry.metrics"], y="value", color="source")
"""
COUNT = """
import gc, os, threading, psutil
gc.collect()
me = psutil.Process(os.getpid())
tcp = getattr(me, "net_connections", None) or me.connections  # psutil before 6.0
listening = [c for c in tcp("tcp") if c.status == psutil.CONN_LISTEN]
established = [c for c in tcp("tcp") if c.status == psutil.CONN_ESTABLISHED]
names = sorted(t.name.split(" ws://")[0] for t in threading.enumerate()
               if t.name.startswith("nexus_nb"))
print("NNB_COUNT", len(threading.enumerate()), len(listening), len(established), names)
"""
RECEIVES = """
before = stream["telemetry.metrics"].appended
stream.wait_for("telemetry.metrics", rows=before + 20, timeout=10)
print("NNB_RECEIVES", stream["telemetry.metrics"].appended > before)
"""


def test_five_reruns_of_a_serve_connect_plot_cell_leave_what_one_run_leaves() -> None:
    text = run_cells([RERUN, COUNT, RERUN, RERUN, RERUN, RERUN, COUNT, RECEIVES])
    counts = re.findall(r"NNB_COUNT (.*)", text)
    assert len(counts) == 2, text
    assert counts[0] == counts[1], counts
    assert "NNB_RECEIVES True" in text, text


FORMS = {
    "plain": (
        "stream = nnb.connect(URL, api_key=KEY, maxlen=50_000)\n"
        'stream.subscribe("telemetry.metrics")',
        'stream.wait_for("telemetry.metrics", rows=40_000, timeout=60)',
    ),
    "async": (
        "stream = await nnb.aconnect(URL, api_key=KEY, maxlen=50_000)\n"
        'await stream.subscribe("telemetry.metrics")',
        'await stream.wait_for("telemetry.metrics", rows=40_000, timeout=60)',
    ),
}
BUSY = """
with open(FIFO, "w") as go:  # the server in the other process starts publishing now
    go.write("go 40000 5000\\n")
_end, _x = time.perf_counter() + 8, 0
while time.perf_counter() < _end:  # 8 s of CPU-bound Python: the kernel's loop stands still
    _x += 1
"""
CHECK = """
buf = stream["telemetry.metrics"]
n = buf.to_dataframe()["n"].to_numpy()
print("NNB_KEPT " + json.dumps({"rows": len(n), "in_order": bool((n == range(1, len(n) + 1)).all()),
      "gaps": len(buf.gaps)}))
"""


@pytest.mark.parametrize("form", FORMS)
def test_a_cell_computing_8_s_while_40000_events_arrive_keeps_all_in_order_either_form(
    form: str, tmp_path: Path
) -> None:
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    # Read-write, so the pacer's stdin never blocks on open nor ends between writers.
    commands = os.open(fifo, os.O_RDWR)
    pacer = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "pacer.py"), KEY],
        stdin=commands,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert pacer.stdout is not None
        url = pacer.stdout.readline().strip()
        connect, wait = FORMS[form]
        setup = (
            f"import json, time\nimport nexus_nb as nnb\n"
            f"URL, KEY, FIFO = {url!r}, {KEY!r}, {str(fifo)!r}\n{connect}"
        )
        text = run_cells([setup, BUSY, wait, CHECK])
        assert pacer.stdout.readline().strip() == "done"
    finally:
        pacer.kill()
        pacer.wait()
        os.close(commands)
        if pacer.stdout is not None:
            pacer.stdout.close()
    kept = json.loads(text.split("NNB_KEPT ", 1)[1])
    assert kept == {"rows": 40_000, "in_order": True, "gaps": 0}
