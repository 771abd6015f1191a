"""Plain calls in a real kernel: a busy cell sees its buffer grow, and widgets stay on its thread.

The server runs in another process (``python -m nexus_nb serve``), so the GIL
of the busy cell does not slow its traffic; the kernel is a real ipykernel
driven by nbclient, as Jupyter drives it.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections.abc import Iterator

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers.keys import KEY
from tests.helpers.paths import ROOT

CELLS = [
    # Every comm message is recorded with the thread that sent it.
    """
import threading, time
import nexus_nb as nnb

stream = nnb.connect(URL, api_key=KEY)
stream.subscribe("telemetry.metrics")
buf = stream["telemetry.metrics"]
plot = nnb.LivePlot(buf, y="value", color="source", fps=10)
display(plot)
senders = []
comm_class = type(plot.widget.comm)
original = comm_class.publish_msg

def recording(self, *args, **kwargs):
    senders.append(threading.get_ident())
    return original(self, *args, **kwargs)

comm_class.publish_msg = recording
""",
    # The busy cell: the kernel's loop does not run for 5 s.
    """
for _ in range(5):
    time.sleep(1)
    print("NNB_LEN", len(buf))
""",
    "import asyncio\nawait asyncio.sleep(1.5)  # frames go out once the loop runs again",
    """
stream.close()
off_thread = sum(t != threading.main_thread().ident for t in senders)
print("NNB_SENDS", len(senders), "NNB_OFF_THREAD", off_thread)
print("NNB_THREADS", [t.name for t in threading.enumerate() if t.name.startswith("nexus_nb")])
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


def test_a_cell_sleeping_5_s_sees_its_buffer_grow_and_sends_no_comm_message_off_its_thread(
    server_url: str,
) -> None:
    setup = f"URL = {server_url!r}\nKEY = {KEY!r}\n"
    cells = [setup + CELLS[0], *CELLS[1:]]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=60, kernel_name="python3", store_widget_state=False).execute()
    text = "".join(o.get("text", "") for c in nb.cells for o in c.outputs)

    sizes = [int(n) for n in re.findall(r"NNB_LEN (\d+)", text)]
    assert len(sizes) == 5, text
    assert sizes[0] > 0, text
    assert all(b > a for a, b in itertools.pairwise(sizes)), sizes
    sends = re.search(r"NNB_SENDS (\d+) NNB_OFF_THREAD (\d+)", text)
    assert sends, text
    assert int(sends.group(1)) > 0  # the plot did update
    assert int(sends.group(2)) == 0
    assert "NNB_THREADS []" in text
