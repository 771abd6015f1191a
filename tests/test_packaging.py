"""What users install: the extras, the Binder pins, the lock of the tested set, the wheel.

The `notebooks` extra must bring everything the notebooks import; Binder's pins
must be exactly the package's dependencies plus that extra, at the versions CI
tested (``requirements/ci.txt``); the wheel and sdist must carry the page code
of the views and ``py.typed``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.helpers.notebook import execute_all_in
from tests.helpers.paths import NOTEBOOKS, ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCK = ROOT / "requirements" / "ci.txt"
BINDER = ROOT / "binder" / "requirements.txt"
SUPPORT = ROOT / "docs" / "explanation" / "support.md"


def requirements(extra: str | None = None) -> list[Requirement]:
    specs = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    return [Requirement(spec) for spec in specs]


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, by canonical name."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"{path.name}: {line!r} is not an exact pin"
            found[canonicalize_name(name)] = version
    return found


def notebook_imports() -> set[str]:
    """Top-level modules imported by the code cells of the notebooks."""
    modules = set()
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            # IPython syntax (magics, shell escapes) is not Python: drop those lines.
            source = "\n".join(
                line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
            )
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    return modules


def test_the_notebooks_extra_brings_every_module_the_notebooks_import() -> None:
    provided = {canonicalize_name(r.name) for r in requirements() + requirements("notebooks")}
    distributions = importlib.metadata.packages_distributions()
    missing = set()
    for module in notebook_imports() - {"nexus_nb"}:
        if module in sys.stdlib_module_names:
            continue
        names = {canonicalize_name(d) for d in distributions.get(module, [module])}
        if not names & provided:
            missing.add(module)
    assert notebook_imports() >= {"nexus_nb", "duckdb"}
    assert missing == set()


def test_the_notebooks_extra_brings_jupyterlab_and_a_kernel() -> None:
    names = {canonicalize_name(r.name) for r in requirements("notebooks")}
    assert {"jupyterlab", "ipykernel"} <= names


def test_binder_pins_exactly_the_dependencies_and_the_notebooks_extra() -> None:
    wanted = {canonicalize_name(r.name) for r in requirements() + requirements("notebooks")}
    assert set(pins(BINDER)) == wanted


def test_binder_pins_the_versions_ci_tested() -> None:
    lock = pins(LOCK)
    differ = {name: (v, lock.get(name)) for name, v in pins(BINDER).items() if lock.get(name) != v}
    assert differ == {}


def test_the_lock_satisfies_every_bound_of_pyproject() -> None:
    lock = pins(LOCK)
    extras = PROJECT["optional-dependencies"]
    specs = [*requirements(), *(r for extra in extras for r in requirements(extra))]
    outside = [
        f"{r} (locked {lock[canonicalize_name(r.name)]})"
        for r in specs
        if canonicalize_name(r.name) in lock
        and not r.specifier.contains(lock[canonicalize_name(r.name)], prereleases=True)
    ]
    assert outside == []
    # Everything the main job installs is locked, so CI runs one known set.
    unlocked = [r.name for r in specs if canonicalize_name(r.name) not in lock]
    assert unlocked == []


def test_every_runtime_dependency_has_an_upper_bound() -> None:
    extras = [e for e in PROJECT["optional-dependencies"] if e != "dev"]
    specs = [*requirements(), *(r for extra in extras for r in requirements(extra))]
    unbounded = [str(r) for r in specs if not any(s.operator == "<" for s in r.specifier)]
    assert unbounded == []


def test_the_support_policy_table_shows_the_bounds_and_the_tested_versions() -> None:
    rows = {
        canonicalize_name(name): (SpecifierSet(spec), version)
        for name, spec, version in re.findall(
            r"^\| ([\w.-]+) \| `([^`]+)` \| ([\w.]+) \|", SUPPORT.read_text(), re.MULTILINE
        )
    }
    lock = pins(LOCK)
    wanted = {
        canonicalize_name(r.name): (r.specifier, lock[canonicalize_name(r.name)])
        for r in requirements()
    }
    assert rows == wanted


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An sdist, and a wheel built from it (as ``python -m build`` does)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def test_the_wheel_carries_the_views_page_code_py_typed_and_the_license(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    page_code = {path.relative_to(ROOT).as_posix() for path in (ROOT / "nexus_nb").rglob("*.js")}
    assert page_code >= {"nexus_nb/widgets/surface.js"}
    assert page_code <= names
    assert "nexus_nb/py.typed" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert not any(name.startswith(("tests/", "benchmarks/", "docs/")) for name in names)


def test_the_sdist_carries_the_license_readme_and_changelog(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml"} <= names
    assert {"nexus_nb/widgets/surface.js", "nexus_nb/py.typed"} <= names
    assert not any(name.startswith((".venv", "site/", ".demo/")) for name in names)


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.timeout(900)
def test_the_wheel_with_the_notebooks_extra_runs_every_notebook_in_a_clean_venv(
    dist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (wheel,) = dist.glob("*.whl")
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(LOCK), f"{wheel}[notebooks]"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    check = (
        "import importlib.resources as r, nexus_nb as nnb; "
        "root = r.files('nexus_nb'); "
        "assert (root / 'py.typed').is_file(); "
        "assert (root / 'widgets' / 'surface.js').is_file(); "
        "print(nnb.__file__)"
    )
    result = subprocess.run(  # from tmp_path: the checkout's nexus_nb/ must not shadow it
        [str(python), "-c", check],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert str(env) in result.stdout
    subprocess.run(
        [str(env / "bin" / "nexus-nb"), "--help"], check=True, capture_output=True, timeout=60
    )
    jupyter_path = tmp_path / "kernels" / "share" / "jupyter"
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    rows = execute_all_in(python, tmp_path, jupyter_path)
    assert len(rows) == 5
    assert all(count > 0 for count in rows.values()), rows
