"""An executed notebook as one small HTML file that shows every live view's last frame offline.

``jupyter nbconvert --execute --to html`` saves each widget's state, plotly.js
included (about 5 MB per plot), and needs a CDN to draw it: offline the plots
are blank. :func:`export_html` runs the notebook in a real kernel the same way,
then closes every displayed nexus_nb view (:func:`close_displayed`), which
replaces each widget output with the view's self-contained SVG/HTML snapshot,
and saves no widget state. The file is a few hundred KB and needs no network.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

__all__ = ["export_html"]

# Run after the notebook's last cell, in its kernel; its own output is dropped.
_EPILOGUE = "from nexus_nb.widgets.display import close_displayed\nclose_displayed()"


async def export_html(
    notebook: str | Path,
    out: str | Path | None = None,
    *,
    cell_timeout: float = 120.0,
    kernel_name: str = "python3",
) -> Path:
    """Execute ``notebook`` and write it as offline HTML; return the HTML file's path.

    Args:
        notebook: The ``.ipynb`` file; it runs with its own folder as working directory.
        out: Where to write; default the notebook's name with ``.html``.
        cell_timeout: Seconds allowed per cell.
        kernel_name: The Jupyter kernel to run it in.

    Raises:
        FileNotFoundError: If ``notebook`` does not exist.
        nbclient.exceptions.CellExecutionError: If a cell raises (the file is not written).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    source = Path(notebook)
    nb, folder = await asyncio.to_thread(_read, source)
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name=kernel_name,
        store_widget_state=False,
        resources={"metadata": {"path": folder}},
    )
    async with client.async_setup_kernel():
        for index, cell in enumerate(nb.cells):
            await client.async_execute_cell(cell, index)
        epilogue = nbformat.v4.new_code_cell(_EPILOGUE)  # type: ignore[no-untyped-call]
        nb.cells.append(epilogue)
        try:
            await client.async_execute_cell(epilogue, len(nb.cells) - 1)
        finally:
            nb.cells.pop()
    exporter = HTMLExporter(template_name="lab")  # type: ignore[no-untyped-call]
    body, _ = exporter.from_notebook_node(nb)
    target = Path(out) if out is not None else source.with_suffix(".html")
    await asyncio.to_thread(target.write_text, body, encoding="utf-8")
    return target


def _read(source: Path) -> tuple[Any, str]:
    import nbformat

    nb = nbformat.read(source, as_version=4)  # type: ignore[no-untyped-call]
    return nb, str(source.resolve().parent)
