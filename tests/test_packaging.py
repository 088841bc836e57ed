"""pyproject.toml is the single source of dependencies; the rest must agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

from medgan_helpers import colab

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(specs):
    return {re.split(r"[<>=!~;\[ ]", s, maxsplit=1)[0].lower() for s in specs}


def test_environment_yml_only_installs_this_package_with_its_extras():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_deps = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    # conda supplies only the interpreter and pip: no second list of pins
    assert {re.split(r"[=<> ]", d)[0] for d in conda_deps} == {"python", "pip"}
    assert len(pip_sections) == 1 and len(pip_sections[0]) == 1
    line = pip_sections[0][0]
    match = re.fullmatch(r'-e\s+"?\.\[([a-z,]+)\]"?', line)
    assert match, f"environment.yml pip line should install this package: {line!r}"
    extras = set(match.group(1).split(","))
    assert extras == set(PYPROJECT["project"]["optional-dependencies"]), (
        "environment.yml must install every extra defined in pyproject.toml"
    )


def test_environment_python_is_allowed_by_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    minor = int(python.split("=")[1].split(".")[1])
    assert 10 <= minor <= 13, PYPROJECT["project"]["requires-python"]


def test_colab_requirements_match_pyproject():
    assert list(colab.RUNTIME_REQUIREMENTS) == PYPROJECT["project"]["dependencies"]


def test_tensorflow_and_keras3_are_required():
    deps = PYPROJECT["project"]["dependencies"]
    assert any(d.startswith("tensorflow>=2.16") for d in deps)
    assert any(d.startswith("keras>=3") for d in deps)


def test_no_torch_or_medmnist_dependency():
    every = list(PYPROJECT["project"]["dependencies"])
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        every += extra
    assert not _names(every) & {"torch", "medmnist", "torchvision"}


def test_ci_calls_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "python3 kit.py test" in ci
    assert "python3 kit.py test" in readme and "python3 kit.py run" in readme
