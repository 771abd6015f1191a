"""Every widget test leaves ipywidgets' registry as it found it."""

from __future__ import annotations

from collections.abc import Iterator

import ipywidgets
import pytest


@pytest.fixture(autouse=True)
def _close_widgets() -> Iterator[None]:
    """Close every widget a test opened, so none lingers in ipywidgets' registry."""
    yield
    ipywidgets.Widget.close_all()
