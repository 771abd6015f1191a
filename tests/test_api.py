"""The public surface: one sorted ``__all__``, every name real, heavy imports deferred."""

from __future__ import annotations

import subprocess
import sys

import pytest

import nexus_nb


def test_all_is_sorted_and_unique() -> None:
    # isort-style, as ruff's RUF022 keeps it: CONSTANTS, then Classes, then functions.
    def key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert list(nexus_nb.__all__) == sorted(set(nexus_nb.__all__), key=key)


@pytest.mark.parametrize("name", nexus_nb.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(nexus_nb, name) is not None


def test_unknown_attributes_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = nexus_nb.nope  # type: ignore[attr-defined]


def test_dir_lists_the_public_names() -> None:
    assert set(nexus_nb.__all__) <= set(dir(nexus_nb))


def test_importing_the_package_or_the_cli_does_not_load_the_data_and_widget_stack() -> None:
    code = (
        "import sys, nexus_nb, nexus_nb.cli\n"
        "heavy = [m for m in ('pandas', 'plotly', 'ipywidgets', 'pyarrow') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_top_level_names_are_what_a_notebook_needs_and_no_more() -> None:
    # Streams, servers, views, captures and the errors; everything else lives in
    # its subpackage (nexus_nb.client, .buffer, .widgets, .server, .protocol).
    assert set(nexus_nb.__all__) == {
        "CHANNELS",
        "AsyncStream",
        "AuthError",
        "CaptureError",
        "ConnectionClosed",
        "Dashboard",
        "LivePlot",
        "LiveTable",
        "NexusError",
        "ProtocolError",
        "Recording",
        "RingBuffer",
        "SchemaError",
        "Server",
        "StatusBar",
        "Stream",
        "SubscriptionError",
        "TransportError",
        "aconnect",
        "aserve",
        "connect",
        "read_capture",
        "serve",
    }


def test_no_subpackage_re_exports_another_ones_names() -> None:
    import importlib

    for package in ("buffer", "capture", "client", "columnar", "protocol", "server", "widgets"):
        module = importlib.import_module(f"nexus_nb.{package}")
        for name in module.__all__:
            home = getattr(getattr(module, name), "__module__", None)
            if home is not None and home.startswith("nexus_nb."):
                assert home.startswith(f"nexus_nb.{package}"), (package, name, home)


def test_a_warning_logged_on_a_thread_prints_nothing_until_the_application_configures_logging() -> (
    None
):
    # In a kernel, stderr from a thread lands under whichever cell ran last.
    code = (
        "import logging, threading, nexus_nb\n"
        "log = logging.getLogger('nexus_nb.client')\n"
        "t = threading.Thread(target=log.warning, args=('reconnecting',)); t.start(); t.join()\n"
        "logging.basicConfig()\n"
        "t = threading.Thread(target=log.warning, args=('configured',)); t.start(); t.join()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "reconnecting" not in out.stderr
    assert "configured" in out.stderr
