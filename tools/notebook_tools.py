"""Maintainer tool: clean notebook metadata after a full run, keeping outputs (`make notebooks` calls it).

Usage: python tools/notebook_tools.py clean notebooks/*.ipynb
"""
import sys

import nbformat

KEEP_CELL = ("tags", "jupyter", "nbgrader")            # tags (nbval), collapsed-solution flags, exercises
KEEP_NOTEBOOK = ("kernelspec", "language_info", "widgets")
WIDGET = "application/vnd.jupyter.widget-view+json"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def clean(path: str) -> None:
    """Drop execution timestamps and machine-specific metadata; keep outputs and the widget state."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEEP_NOTEBOOK}
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata.get("language_info", {}).pop("version", None)  # differs between machines
    for cell in nb.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEEP_CELL}
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET in data:
                data.pop("text/plain", None)  # a progress bar's text as first shown ("0%"), stale once it ran
    nbformat.write(nb, path)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "clean":
        sys.exit(__doc__)
    for p in sys.argv[2:]:
        clean(p)
        print("cleaned", p)
