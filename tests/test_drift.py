"""The ``train_step`` a notebook teaches must be the package's ``train_step``.

Notebooks 04 (the GAN), 08 (pix2pix) and 10 (diffusion) write ``train_step`` out where they teach it
(d2l's "#@save" idea); the package holds the same code once. These tests compare the
two as syntax trees (``ast.dump``: formatting and comments do not matter, any change
of code does), in the notebook source and in the built notebook. A new model family
whose notebook teaches its ``train_step`` adds one line to ``TAUGHT``.

(``test_notebooks.py::test_notebook_matches_its_source`` checks something else: that
each built notebook was built from its current source.)
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Taught:
    """A ``train_step`` that a notebook teaches and the package holds."""

    notebook: str  # the stem of notebooks/<stem>.ipynb and notebooks/src/<stem>.py
    method: str  # "module:Class.train_step", imported when the test runs
    changed: tuple[str, str]  # a one-token change of code: the comparison must catch it
    comment: tuple[str, str]  # a change of a comment only: the comparison must ignore it

    @property
    def source(self) -> Path:
        return ROOT / "notebooks" / "src" / f"{self.notebook}.py"

    @property
    def built(self) -> Path:
        return ROOT / "notebooks" / f"{self.notebook}.ipynb"


TAUGHT = [
    Taught("04_training_with_train_step", "medgan_helpers.gan:GAN.train_step",
           changed=("range(self.d_steps)", "range(self.d_steps + 1)"),
           comment=("# 1) Discriminator", "# 1)  The discriminator")),
    Taught("08_image_to_image", "medgan_helpers.pix2pix:Pix2Pix.train_step",
           changed=("g_loss = self.l1_weight * l1_loss", "g_loss = 10 * self.l1_weight * l1_loss"),
           comment=("# 1) Discriminator:", "# 1)   The discriminator:")),
    Taught("10_diffusion_beside_the_gan", "medgan_helpers.diffusion:Diffusion.train_step",
           changed=("net([noisy_images, time, labels]", "net([images, time, labels]"),
           comment=("# 1) Forward process:", "# 1)  The forward process:")),
]


def _train_steps(code: str) -> list[ast.FunctionDef]:
    """Every ``train_step`` method defined in a class in ``code``."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ClassDef):
            found += [f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "train_step"]
    return found


def _normalised(function: ast.FunctionDef) -> str:
    return ast.dump(function, annotate_fields=False, include_attributes=False)


def _package_train_step(taught: Taught) -> str:
    module_name, qualname = taught.method.split(":")
    method = importlib.import_module(module_name)
    for part in qualname.split("."):
        method = getattr(method, part)
    source = textwrap.dedent(inspect.getsource(method))
    (function,) = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    return _normalised(function)


def _built_code(path: Path) -> str:
    """The built notebook's code cells, without IPython magics and shell lines."""
    cells = json.loads(path.read_text())["cells"]
    code = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))


parametrised = pytest.mark.parametrize("taught", TAUGHT, ids=lambda t: f"nb{t.notebook[:2]}")


@parametrised
def test_notebook_source_train_step_matches_package(taught):
    steps = _train_steps(taught.source.read_text())
    assert len(steps) == 1, f"notebook {taught.notebook[:2]} must define train_step exactly once"
    assert _normalised(steps[0]) == _package_train_step(taught), (
        f"notebooks/src/{taught.source.name} and {taught.method} differ: "
        "change both together (the notebook shows the package's code)."
    )


@parametrised
def test_built_notebook_train_step_matches_package(taught):
    number = taught.notebook[:2]
    if not taught.built.is_file():
        pytest.skip(f"notebook {number} is not built yet (python tools/build_notebooks.py {number})")
    steps = _train_steps(_built_code(taught.built))
    assert len(steps) == 1
    assert _normalised(steps[0]) == _package_train_step(taught), (
        f"the built notebook {number} is stale: rebuild it with python tools/build_notebooks.py {number}"
    )


@parametrised
def test_the_check_can_fail(taught):
    """A one-token change is caught; comments and blank lines are not (so the tests are not vacuous)."""
    text = taught.source.read_text()
    changed = text.replace(*taught.changed, 1)
    assert changed != text, f"{taught.changed[0]!r} is no longer in {taught.source.name}: pick another change"
    assert _normalised(_train_steps(changed)[0]) != _package_train_step(taught)
    relaxed = text.replace(*taught.comment, 1)
    assert relaxed != text, f"{taught.comment[0]!r} is no longer in {taught.source.name}: pick another comment"
    assert _normalised(_train_steps(relaxed)[0]) == _package_train_step(taught)
