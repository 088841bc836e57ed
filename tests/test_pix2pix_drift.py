"""The train_step taught in notebook 08 must be the package's ``pix2pix.Pix2Pix.train_step``.

As for notebook 04 (``tests/test_drift.py``): the two are compared as syntax trees
(``ast.dump``: formatting and comments do not matter, any change of code does),
in the notebook source and in the built notebook.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from pathlib import Path

import pytest

from medgan_helpers import pix2pix

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / "src" / "08_image_to_image.py"
NOTEBOOK = ROOT / "notebooks" / "08_image_to_image.ipynb"


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
    source = textwrap.dedent(inspect.getsource(pix2pix.Pix2Pix.train_step))
    (function,) = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    return _normalised(function)


def test_notebook_source_train_step_matches_package():
    steps = _train_steps(SOURCE.read_text())
    assert len(steps) == 1, "notebook 08 must define train_step exactly once"
    assert _normalised(steps[0]) == _package_train_step(), (
        "notebooks/src/08_image_to_image.py and pix2pix.Pix2Pix.train_step differ: "
        "change both together (the notebook shows the package's code)."
    )


def test_built_notebook_train_step_matches_package():
    if not NOTEBOOK.is_file():
        pytest.skip("notebook 08 is not built yet (python tools/build_notebooks.py 08)")
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    steps = _train_steps(code)
    assert len(steps) == 1
    assert _normalised(steps[0]) == _package_train_step(), (
        "the built notebook 08 is stale: rebuild it with python tools/build_notebooks.py 08"
    )


def test_the_check_can_fail():
    """A one-token change is caught; comments and blank lines are not."""
    text = SOURCE.read_text()
    changed = text.replace("g_loss = self.l1_weight * l1_loss", "g_loss = 10 * self.l1_weight * l1_loss", 1)
    assert changed != text
    assert _normalised(_train_steps(changed)[0]) != _package_train_step()
    relaxed = text.replace("# 1) Discriminator:", "# 1)   The discriminator:")
    assert relaxed != text
    assert _normalised(_train_steps(relaxed)[0]) == _package_train_step()
