"""Every notebook keeps the kit's skeleton, matches its source and stores no errors.

nbval (run by ``kit.py test`` over ``notebooks/``) executes the notebooks; these
checks read the committed files.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest

from medgan_helpers import config
from medgan_helpers.jobs import colab_cells

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))

_spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "tools" / "build_notebooks.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def test_quick_mode_canary():
    """A green CI run must mean the notebooks ran in quick mode, not that they were skipped."""
    if os.environ.get("CI"):
        assert config.is_quick(), "CI must run with MEDGAN_QUICK=1 (kit.py test sets it)"


def test_every_source_has_a_notebook_and_back():
    assert NOTEBOOKS, "no notebooks found"
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SOURCES]


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_notebook_matches_its_source(src):
    assert build.drifted(src) is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_skeleton(path):
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    first = cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {path.stem[:2]} ")
    assert colab_cells.colab_badge_url(path.stem) in first.source
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    for heading in ("Learning goals", "What you learned", "Exercise"):
        assert heading.lower() in markdown.lower(), f"{path.name}: no '{heading}' section"
    assert "<details>" in markdown, f"{path.name}: exercises need collapsible solutions"
    code = [c for c in cells if c.cell_type == "code"]
    setup = [c for c in code if "setup" in c.metadata.get("tags", [])]
    assert len(setup) == 1 and setup[0].source.strip() == colab_cells.setup_cell_source().strip()
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
    assert "exercises.check_" in "\n".join(c.source for c in code), f"{path.name}: no checks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_come_from_a_clean_run(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} stores an error output"
    counts = [c.execution_count for c in code]
    assert all(isinstance(n, int) for n in counts), f"{path.name} was not fully executed"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: cells run out of order"


#: Parameters that every notebook takes from the recipe unless it says why it differs.
RECIPE_DEFAULTS = {"LATENT_DIM": "latent_dim", "BATCH_SIZE": "batch_size"}


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_parameters_use_the_recipe_defaults(src):
    """One set of defaults: a literal latent size or batch size equals the recipe's."""
    import ast

    from medgan_helpers import recipe

    full = recipe.gan_config(quick=False)
    cells = build.render(src).cells
    params = next(c for c in cells if "parameters" in c.metadata.get("tags", []))
    for node in ast.parse(params.source).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
            continue  # computed from the recipe, e.g. RECIPE["batch_size"]
        for target in node.targets:
            field = RECIPE_DEFAULTS.get(getattr(target, "id", ""))
            if field is not None:
                assert node.value.value == getattr(full, field), (
                    f"{src.stem}: {target.id} = {node.value.value!r}, the recipe's {field} is "
                    f"{getattr(full, field)!r}; use the recipe's value or say why it differs"
                )
