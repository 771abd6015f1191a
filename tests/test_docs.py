"""Examples that cannot go stale: every Python block of the README and the docs runs.

The ```python blocks of one file run in order in one namespace, like the cells
of a notebook: later blocks use the names of earlier ones. Each block runs as a
coroutine on one event loop per file, so a plain call sees a running loop on its
thread as it does in a Jupyter cell, and a block may use top-level ``await`` as a
cell may. The file's run happens in a temporary directory (blocks write captures),
and whatever nexus_nb object is left open in the namespace (a view, a stream, a
server) is closed at the end, newest first.

A block that cannot run here is marked by an HTML comment right before it,
which says why and is invisible on the page::

    <!-- no-run: needs a Nexus server on the network -->

A block needing a server uses the in-process demo server instead:
``server = nnb.serve()``, then ``nnb.connect(server.url, api_key=server.api_key)``.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import inspect
import re
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import nexus_nb
from nexus_nb import cli
from tests.helpers.paths import ROOT

DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", *DOCS.rglob("*.md")])
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`]*)$")
NO_RUN = re.compile(r"^\s*<!--\s*no-run:(?P<reason>.*?)-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts, its language, its code, why it is skipped."""

    path: Path
    line: int  # 1-based line of the first line of code
    language: str
    code: str
    skip: str | None  # the no-run reason ("" when the marker gives none)


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a markdown file, in order."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        indent, fence = match["indent"], match["fence"]
        language = match["info"].strip().split(" ")[0].lower()
        marker = next((line for line in reversed(lines[:index]) if line.strip()), "")
        skip = NO_RUN.match(marker)
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        code = "\n".join(line.removeprefix(indent) for line in lines[index + 1 : end])
        found.append(
            Block(path, index + 2, language, code, skip["reason"].strip() if skip else None)
        )
        index = end + 1
    return found


def python_blocks(path: Path) -> list[Block]:
    return [block for block in blocks(path) if block.language in ("python", "py")]


def page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


RUNNABLE = [path for path in PAGES if any(b.skip is None for b in python_blocks(path))]


def run_block(block: Block, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
    # Padded with newlines so that a traceback points at the markdown file's own line.
    source = "\n" * (block.line - 1) + block.code
    code = compile(
        source, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    if code.co_flags & inspect.CO_COROUTINE:
        loop.run_until_complete(eval(code, namespace))
        return

    async def cell() -> None:  # a plain block, run as a cell runs: with a loop on this thread
        exec(code, namespace)

    loop.run_until_complete(cell())


def close_everything(namespace: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
    """Close what the blocks left open, newest first: views, then streams, then servers."""
    errors = []
    for value in reversed(list(namespace.values())):
        if not type(value).__module__.startswith("nexus_nb."):
            continue
        try:
            if callable(getattr(value, "close", None)):
                result = value.close()
                if inspect.isawaitable(result):
                    loop.run_until_complete(result)
            elif callable(getattr(value, "aclose", None)):
                loop.run_until_complete(value.aclose())
        except Exception as exc:  # reported below, once everything was closed
            errors.append(f"{type(value).__name__}.close(): {exc!r}")
    assert errors == []


@pytest.mark.parametrize("path", RUNNABLE, ids=page_id)
def test_the_python_blocks_of_a_page_run_in_order(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEXUS_API_KEY", raising=False)
    threads_before = set(threading.enumerate())
    namespace: dict[str, Any] = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    try:
        for block in python_blocks(path):
            if block.skip is None:
                run_block(block, namespace, loop)
    finally:
        try:
            close_everything(namespace, loop)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
    # Nothing a page starts outlives it (a leftover non-daemon thread would hang the run).
    deadline = time.monotonic() + 10
    while True:
        left = [
            t for t in set(threading.enumerate()) - threads_before if t.is_alive() and not t.daemon
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == []


def test_every_no_run_marker_gives_its_reason() -> None:
    skipped = [b for path in PAGES for b in python_blocks(path) if b.skip is not None]
    unexplained = [f"{page_id(b.path)}:{b.line}" for b in skipped if not b.skip]
    assert unexplained == []


def test_most_python_blocks_run() -> None:
    every = [b for path in PAGES for b in python_blocks(path)]
    skipped = [b for b in every if b.skip is not None]
    assert len(every) >= 30
    assert len(skipped) <= 3, [f"{page_id(b.path)}:{b.line}: {b.skip}" for b in skipped]


def test_the_readme_reaches_working_code_within_one_screen() -> None:
    text = (ROOT / "README.md").read_text()
    lines = text.splitlines()
    first_python = next(b.line for b in python_blocks(ROOT / "README.md"))
    assert len(lines) <= 150
    assert "pip install" in text
    assert first_python <= 60
    # .ci/run and the Makefile call `make test` "the README's test command".
    assert re.search(r"^make test\b", text, re.MULTILINE)


def reference_directives() -> set[str]:
    text = "\n".join(p.read_text() for p in sorted((DOCS / "reference").rglob("*.md")))
    return set(re.findall(r"^::: ([\w.]+)", text, re.MULTILINE))


def test_the_reference_documents_every_public_name() -> None:
    documented = reference_directives()
    missing = sorted(n for n in nexus_nb.__all__ if f"nexus_nb.{n}" not in documented)
    assert missing == []


def test_the_reference_documents_no_top_level_name_that_is_not_public() -> None:
    top = {d.split(".")[1] for d in reference_directives() if d.count(".") == 1}
    assert sorted(top - set(nexus_nb.__all__)) == []


def parser_options() -> dict[str, set[str]]:
    """Each subcommand of ``nexus-nb`` and its long options."""
    parser = cli._parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: {
            option
            for action in command._actions
            for option in action.option_strings
            if option.startswith("--") and option != "--help"
        }
        for name, command in sub.choices.items()
    }


def test_the_cli_reference_lists_every_command_and_option() -> None:
    text = (DOCS / "reference" / "cli.md").read_text()
    missing = []
    for command, options in parser_options().items():
        if f"`nexus-nb {command}" not in text:
            missing.append(command)
        missing += [f"{command} {o}" for o in sorted(options) if f"`{o}" not in text]
    assert missing == []


def test_the_architecture_page_draws_the_layers_import_linter_enforces() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = (c["layers"] for c in contracts["contracts"] if c["type"] == "layers")
    text = (DOCS / "explanation" / "architecture.md").read_text()
    drawn = text.split("<!-- layers:start -->")[1].split("<!-- layers:end -->")[0]
    rows = [line for line in drawn.splitlines() if line.startswith("nexus_nb.")]
    as_drawn = [" | ".join(re.findall(r"nexus_nb\.\w+", row)) for row in rows]
    assert as_drawn == layers
