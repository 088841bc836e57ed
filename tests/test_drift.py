"""The train_step taught in notebook 04 must be the package's train_step.

Notebook 04 writes ``train_step`` out where it is taught (d2l's "#@save" idea);
``medgan_helpers.gan.GAN.train_step`` holds the same code once. These tests
compare the two as syntax trees (``ast.dump``: formatting and comments do not
matter, any change of code does), in the notebook source and in the built notebook.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from pathlib import Path

import pytest

from medgan_helpers import gan

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / "src" / "04_training_with_train_step.py"
NOTEBOOK = ROOT / "notebooks" / "04_training_with_train_step.ipynb"


def _train_steps(code: str) -> list[ast.FunctionDef]:
    """Every ``train_step`` method defined in a class in ``code``."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ClassDef):
            found += [f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "train_step"]
    return found


def _normalised(function: ast.FunctionDef) -> str:
    return ast.dump(function, annotate_fields=False, include_attributes=False)


def _package_train_step() -> str:
    source = textwrap.dedent(inspect.getsource(gan.GAN.train_step))
    (function,) = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    return _normalised(function)


def _notebook_code_cells(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_notebook_source_train_step_matches_package():
    steps = _train_steps(SOURCE.read_text())
    assert len(steps) == 1, "notebook 04 must define train_step exactly once"
    assert _normalised(steps[0]) == _package_train_step(), (
        "notebooks/src/04_training_with_train_step.py and gan.GAN.train_step differ: "
        "change both together (the notebook shows the package's code)."
    )


def test_built_notebook_train_step_matches_package():
    if not NOTEBOOK.is_file():
        pytest.skip("notebook 04 is not built yet (python tools/build_notebooks.py 04)")
    code = "\n".join(
        line for line in _notebook_code_cells(NOTEBOOK).splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    steps = _train_steps(code)
    assert len(steps) == 1
    assert _normalised(steps[0]) == _package_train_step(), (
        "the built notebook 04 is stale: rebuild it with python tools/build_notebooks.py 04"
    )


def test_the_check_can_fail():
    """A one-token change is caught (so the drift tests are not vacuous)."""
    source = SOURCE.read_text().replace("range(self.d_steps)", "range(self.d_steps + 1)", 1)
    assert _normalised(_train_steps(source)[0]) != _package_train_step()
    # comments and blank lines do not count
    relaxed = SOURCE.read_text().replace("# 1) Discriminator", "# 1)  The discriminator")
    assert _normalised(_train_steps(relaxed)[0]) == _package_train_step()
