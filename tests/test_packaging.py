"""pyproject.toml is the single source of dependencies; the rest must agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser under its old name, if installed
    tomllib = pytest.importorskip("tomli")

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


def test_keras_floor_has_the_safe_mode_fixes_and_admits_colabs_keras():
    """safe_mode bypasses were fixed in 3.9 and 3.11; 3.13.2 (Colab's) fixed TFSMLayer
    and HDF5 external links. Python 3.10 cannot have Keras 3.13, so it gets 3.12.4."""
    keras = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("keras")]
    assert keras == ['keras>=3.13.2; python_version >= "3.11"', 'keras>=3.12.4; python_version < "3.11"']
    # the Colab runtime the twin reproduces (Python 3.13) satisfies the floor
    ships = dict(
        line.split("==") for line in (ROOT / "tools" / "colab_twin_runtime.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    floor = keras[0].split(">=")[1].split(";")[0]
    assert colab._version_tuple(ships["keras"]) >= colab._version_tuple(floor)


def test_ipywidgets_8_outside_colab():
    assert "ipywidgets>=8" in PYPROJECT["project"]["dependencies"]
    assert colab.COLAB_FLOORS["ipywidgets"].startswith("7.")  # Colab keeps its shipped 7.7.1


def test_package_version_is_the_pyproject_version():
    import medgan_helpers

    assert medgan_helpers.__version__ == PYPROJECT["project"]["version"]
    assert colab.checkout_version(ROOT) == PYPROJECT["project"]["version"]


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


def test_keras_refuses_to_load_a_lambda_layer_in_safe_mode(tmp_path):
    """A ``.keras`` file with a Lambda layer (arbitrary Python) is refused on load.

    Built for real: a model with a Lambda layer saved to disk, then loaded the way
    the kit loads model files (``keras.models.load_model(..., safe_mode=True)``),
    and with Keras' default, which is the same.
    """
    import keras
    import numpy as np

    installed = colab._version_tuple(keras.__version__)
    floor = next(floor for name, floor, applies in map(colab._parse_requirement, colab.RUNTIME_REQUIREMENTS)
                 if name == "keras" and applies)
    assert installed >= colab._version_tuple(floor), f"keras {keras.__version__} is below the floor {floor}"

    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2.0)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    assert np.allclose(model(np.ones((1, 3), "float32")), 2.0)  # the layer really runs code
    with pytest.raises(ValueError, match="(?i)lambda|safe_mode"):
        keras.models.load_model(path, safe_mode=True, compile=False)
    with pytest.raises(ValueError, match="(?i)lambda|safe_mode"):
        keras.models.load_model(path)
