"""The API key every loopback server of the tests accepts, and the header that presents it.

One key for the whole suite: no test depends on its value. A module that needs
another overrides the ``server_key`` fixture (see ``tests/conftest.py``).
"""

from __future__ import annotations

KEY = "test-key-0123456789"
HEADERS = {"Authorization": f"Bearer {KEY}"}
