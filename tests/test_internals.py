"""No behaviour of the package depends on internals: the interpreter's, or its libraries'."""

from __future__ import annotations

import ast
import re

from tests.helpers.paths import ROOT

# What reading the caller would take: its frame, its bytecode, its instruction offset.
INTERNALS = re.compile(r"_getframe|currentframe|f_lasti|f_back|import dis\b|from dis\b|co_code")
#: Module names whose classes a nexus_nb class may extend (then ``self._x`` may be theirs).
LIBRARIES = {"anywidget", "ipywidgets", "go", "plotly", "comm", "widgets"}


def test_no_module_reads_frames_or_bytecode_to_choose_what_to_do() -> None:
    readers = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "nexus_nb").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if INTERNALS.search(line)
    ]
    assert readers == []


def _library_private_names() -> set[str]:
    """The private names of the widget and plotly classes the views build on.

    What anywidget documents as its API (``_esm``, ``_css``) and IPython's display
    protocol (``_repr_mimebundle_``, ``_ipython_display_``) are public by contract.
    """
    import anywidget
    import comm.base_comm
    import ipywidgets
    import plotly.basedatatypes
    import plotly.graph_objects as go

    # Figures as instances too: plotly keeps its state in instance attributes.
    classes = (
        anywidget.AnyWidget,
        ipywidgets.DOMWidget,
        comm.base_comm.BaseComm,
        go.Figure(),
        go.FigureWidget,
        go.Layout(),
        go.Scatter(),
        plotly.basedatatypes.BasePlotlyType,
    )
    names = {
        name
        for cls in classes
        for name in dir(cls)
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
    }
    return names - {"_esm", "_css", "_repr_mimebundle_", "_ipython_display_"}


def test_no_module_uses_a_private_name_of_plotly_ipywidgets_or_anywidget() -> None:
    private = _library_private_names()
    assert {"_send", "_handle_msg", "_view_count", "_widget_data", "_data", "_props"} <= private
    uses = []
    for path in sorted((ROOT / "nexus_nb").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
            # ``self._x`` is the class's own unless the class extends a library class.
            if not any(ast.unparse(base).split(".")[0] in LIBRARIES for base in cls.bases):
                continue
            for node in ast.walk(cls):
                if isinstance(node, ast.FunctionDef) and node.name in private:
                    uses.append(f"{path.name}:{node.lineno}: overrides {node.name}")
                if isinstance(node, ast.Attribute) and node.attr in private:
                    uses.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in private
                and ast.unparse(node.value) not in ("self", "cls")
            ):
                uses.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert sorted(set(uses)) == []


def test_the_page_code_reads_no_private_property() -> None:
    pages = sorted((ROOT / "nexus_nb").rglob("*.js"))
    assert pages
    uses = [
        f"{path.name}:{n}: {line.strip()}"
        for path in pages
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\._[A-Za-z]", line)
    ]
    assert uses == []
