#!/usr/bin/env python3
"""Build the notebooks from their sources, and execute them for real.

The sources are jupytext "percent" scripts in ``notebooks/src/``; the product is
``notebooks/NN_name.ipynb``. Building a notebook

1. reads ``notebooks/src/NN_name.py``;
2. replaces the markdown line ``<!-- colab-badge -->`` with the Open-in-Colab
   badge and a code cell that is exactly ``# setup-cell`` with the standard setup
   cell (both rendered from ``medgan_helpers.colab``, the one place the
   repository address lives);
3. writes ``notebooks/NN_name.ipynb`` and executes it in place with nbclient
   (working directory ``notebooks/``), so committed outputs always come from a
   real run. A notebook whose execution fails is *not* written over; the failed
   copy goes to ``artifacts/failed-notebooks/`` and the cell is named.

Usage::

    python tools/build_notebooks.py            # every notebook, full settings
    python tools/build_notebooks.py 01 04      # just these
    python tools/build_notebooks.py --quick    # MEDGAN_QUICK=1 settings
    python tools/build_notebooks.py --no-execute
    python tools/build_notebooks.py --check    # exit 1 if an .ipynb drifted from its source
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
SRC_DIR = ROOT / "notebooks" / "src"
NB_DIR = ROOT / "notebooks"
sys.path.insert(0, str(ROOT))

from medgan_helpers.jobs import colab_cells, runner  # noqa: E402

BADGE_MARK = "<!-- colab-badge -->"
SETUP_MARK = "# setup-cell"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def sources(selection: list[str] | None = None) -> list[Path]:
    """The notebook sources, optionally filtered by number or name prefix."""
    found = sorted(SRC_DIR.glob("[0-9][0-9]_*.py"))
    if not selection:
        return found
    chosen = [p for p in found if any(p.stem.startswith(s) for s in selection)]
    unknown = [s for s in selection if not any(p.stem.startswith(s) for p in found)]
    if unknown:
        raise SystemExit(
            f"no notebook source matches {unknown}; available: {[p.stem for p in found]}"
        )
    return chosen


def render(src: Path) -> nbformat.NotebookNode:
    """The unexecuted notebook for one source file."""
    nb = jupytext.read(src, fmt="py:percent")
    name = src.stem
    for cell in nb.cells:
        if cell.cell_type == "markdown" and BADGE_MARK in cell.source:
            cell.source = cell.source.replace(BADGE_MARK, colab_cells.colab_badge_markdown(name))
        if cell.cell_type == "code" and cell.source.strip() == SETUP_MARK:
            cell.source = colab_cells.setup_cell_source().rstrip("\n")
            cell.metadata["tags"] = sorted(set(cell.metadata.get("tags", [])) | {"setup"})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        # jupytext bookkeeping is noise in the product notebooks
        cell.metadata.pop("lines_to_next_cell", None)
    nb.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        "colab": {"provenance": [], "name": f"{name}.ipynb"},
        "accelerator": "GPU",
    }
    nbformat.validator.normalize(nb)
    return nb


def _cell_signature(nb: nbformat.NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (c.cell_type, c.source.strip(), tuple(sorted(c.metadata.get("tags", []))))
        for c in nb.cells
    ]


def drifted(src: Path) -> str | None:
    """Why ``notebooks/<name>.ipynb`` no longer matches its source, or None."""
    target = NB_DIR / f"{src.stem}.ipynb"
    if not target.exists():
        return f"{target.relative_to(ROOT)} is missing; run tools/build_notebooks.py {src.stem[:2]}"
    built = nbformat.read(target, as_version=4)
    want, have = _cell_signature(render(src)), _cell_signature(built)
    if len(want) != len(have):
        return f"{target.name}: {len(have)} cells, its source makes {len(want)}"
    for i, (w, h) in enumerate(zip(want, have)):
        if w != h:
            return f"{target.name}: cell {i} differs from notebooks/src/{src.name}"
    return None


def execute(nb: nbformat.NotebookNode, name: str, quick: bool, timeout: int) -> None:
    """Execute ``nb`` in place, in ``notebooks/`` (the runner's executor); raise naming the failed cell."""
    status, cell, error = runner.execute(nb, NB_DIR, timeout=timeout, quick=quick)
    if status != "ok":
        failed_dir = ROOT / "artifacts" / "failed-notebooks"
        failed_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, failed_dir / f"{name}.ipynb")
        raise SystemExit(
            f"{name}: cell {cell} failed; partial notebook kept at "
            f"{(failed_dir / (name + '.ipynb')).relative_to(ROOT)}\n{error}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="numbers or name prefixes (default: all)")
    parser.add_argument("--quick", action="store_true", help="execute with MEDGAN_QUICK=1")
    parser.add_argument("--no-execute", action="store_true", help="write without running")
    parser.add_argument("--check", action="store_true", help="only report drift")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)

    chosen = sources(args.notebooks)
    os.environ["MEDGAN_PRESET"] = "full"  # stored outputs: full settings (the main job's "lab" is lighter)
    if args.check:
        problems = [p for p in (drifted(s) for s in chosen) if p]
        for problem in problems:
            print("drift:", problem)
        return 1 if problems else 0

    for src in chosen:
        nb = render(src)
        start = time.time()
        if not args.no_execute:
            print(f"executing {src.stem} ({'quick' if args.quick else 'full'} settings)…", flush=True)
            execute(nb, src.stem, args.quick, args.timeout)
        nbformat.write(nb, NB_DIR / f"{src.stem}.ipynb")
        print(f"wrote notebooks/{src.stem}.ipynb in {time.time() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
