"""Writes the example notebooks of `examples/` (outputs stripped) from the cell sources below.

    python examples/make_notebooks.py            # rewrites examples/0*.ipynb
    python examples/make_notebooks.py --check    # exits 1 when a committed notebook differs from its source

Every notebook runs top to bottom offline on the tiny defaults (`tests/examples/test_notebooks.py` executes them) and
writes only under a temporary folder. They read `configs/` relative to `examples/`, where Jupyter starts them.
"""

import argparse
import sys
from pathlib import Path

import nbformat
from notebook_cells import NOTEBOOKS

HERE = Path(__file__).resolve().parent


def build_notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A version-4 notebook of `(kind, source)` cells, `kind` being `"md"` or `"code"`, with no outputs."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    for index, (kind, source) in enumerate(cells):
        source = source.strip("\n")
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        cell.id = f"cell-{index:02d}"  # stable ids keep regenerated files identical
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def render(name: str) -> str:
    """The file content of notebook `name` (e.g. `"01_quickstart"`)."""
    return nbformat.writes(build_notebook(NOTEBOOKS[name]), version=4) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="Only compare the committed notebooks with the sources.")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        text = render(name)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run python examples/make_notebooks.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
