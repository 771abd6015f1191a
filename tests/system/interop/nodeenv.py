"""Node for the interop tests: find ``node`` and install ``ws``/``express``/``dotenv`` once.

The packages go to ``$TMPDIR/nexus_nb-interop-node/node_modules`` (installed into
a scratch directory and renamed into place, so an interrupted install is never
reused), and scripts find them through ``NODE_PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

PACKAGES = ("ws@8", "express@4", "dotenv@16")
HERE = Path(__file__).resolve().parent


def node_env() -> dict[str, str]:
    """An environment for ``node`` whose ``require`` finds the interop packages.

    Skips the test when node is missing or npm cannot install the packages, except
    in CI (``CI`` set), where a missing part fails the test: a whole area of interop
    tests must never vanish from a CI run unnoticed.
    """
    if shutil.which("node") is None or shutil.which("npm") is None:
        unavailable("node and npm are needed for interop with the reference")
    home = Path(tempfile.gettempdir()) / "nexus_nb-interop-node"
    modules = home / "node_modules"
    if not (modules / "ws").is_dir() or not (modules / "express").is_dir():
        scratch = Path(tempfile.mkdtemp(prefix="nexus_nb-npm-"))
        try:
            (scratch / "package.json").write_text('{"name": "nexus-interop", "private": true}')
            done = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--silent", *PACKAGES],
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            if done.returncode != 0:
                unavailable(f"npm could not install {PACKAGES}: {done.stderr.strip()[-300:]}")
            home.mkdir(exist_ok=True)
            if not (modules / "ws").is_dir():
                shutil.rmtree(modules, ignore_errors=True)
                (scratch / "node_modules").rename(modules)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    env = dict(os.environ)
    env["NODE_PATH"] = str(modules)
    return env


def unavailable(reason: str) -> NoReturn:
    """Skip locally; fail in CI, where every system part is installed by ``.ci/run``."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)")
    pytest.skip(reason)
