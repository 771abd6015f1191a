"""No behaviour of the package depends on interpreter internals (frames, bytecode)."""

from __future__ import annotations

import re

from tests.helpers.paths import ROOT

# What reading the caller would take: its frame, its bytecode, its instruction offset.
INTERNALS = re.compile(r"_getframe|currentframe|f_lasti|f_back|import dis\b|from dis\b|co_code")


def test_no_module_reads_frames_or_bytecode_to_choose_what_to_do() -> None:
    readers = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "nexus_nb").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if INTERNALS.search(line)
    ]
    assert readers == []
