"""The Binder files build an image that runs the five notebooks.

No Docker engine runs here: repo2docker's ``--no-build`` prints the Dockerfile it
would build, which is checked offline; the slow test then does what that
Dockerfile does (requirements, then postBuild) in a fresh venv and runs every
notebook with a kernel from that venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.helpers.notebook import execute_all_in
from tests.helpers.paths import ROOT

BINDER = ROOT / "binder"
REPO2DOCKER = Path(sys.executable).parent / "jupyter-repo2docker"


def dockerfile() -> str:
    result = subprocess.run(
        [
            str(REPO2DOCKER),
            "--no-build",
            "--no-run",
            "--debug",
            "--user-id",
            "1000",
            "--user-name",
            "jovyan",
            ".",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout + result.stderr


def test_binder_files_pin_python_311_and_install_the_package() -> None:
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK)
    lines = post_build.read_text().splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "set -euo pipefail" in lines
    assert "pip install --no-cache-dir ." in lines
    pinned = [
        line
        for line in (BINDER / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    names = {line.split("==")[0].lower() for line in pinned}
    assert all("==" in line for line in pinned), pinned
    assert {
        "jupyterlab",
        "ipywidgets",
        "plotly",
        "anywidget",
        "pandas",
        "pyarrow",
        "websockets",
        "orjson",
        "numpy",
        "pyjwt",
    } <= names


def test_repo2docker_dockerfile_uses_python_311_and_runs_post_build() -> None:
    text = dockerfile()

    assert "Building conda environment for python=3.11" in text
    # repo2docker escapes the names of the files it copies in ("." is "-2e").
    decoded = text.replace("-2e", ".").replace("-2d", "-")
    assert "environment.py-3.11-linux-64.lock" in decoded
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in text
    assert "RUN ./binder/postBuild" in text
    # Requirements are installed before postBuild installs the package on top.
    assert text.index('binder/requirements.txt"') < text.index("RUN ./binder/postBuild")


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.timeout(900)
def test_every_notebook_runs_in_a_fresh_venv_built_like_binder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")

    def pip(*args: str) -> None:
        # The pip cache stays on: a rebuild takes seconds instead of minutes.
        done = subprocess.run(
            [python, "-m", "pip", "install", "--quiet", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    pip("-r", str(BINDER / "requirements.txt"))
    pip(".")  # what binder/postBuild does, from the repository root
    probe = subprocess.run(
        [python, "-c", "import nexus_nb, sys; print(nexus_nb.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert str(env_dir) in probe.stdout, "the package must come from the fresh venv"
    jupyter_path = tmp_path / "kernels" / "share" / "jupyter"
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    rows = execute_all_in(Path(python), tmp_path, jupyter_path)
    assert len(rows) == 5
    assert all(count > 0 for count in rows.values()), rows
