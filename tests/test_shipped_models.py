"""Every model file the kit ships loads on the oldest Keras it supports (Colab's 3.13.2).

The shipped generators are stored as weights + the settings that rebuild them in
code (``runs.RunFolder``), not as ``.keras`` files whose layer configs change
between Keras releases. This test installs the Keras floor from
``pyproject.toml`` into a cache folder (``pip install --no-deps --target``), loads
every shipped generator with it in a subprocess, and compares the images with
the ones today's Keras draws. It fails when a newer Keras writes a shipped file
that the floor cannot read, or reads it differently.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medgan_helpers import config, runs

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.parent for p in (ROOT / "data" / "pretrained").glob("*/config.json")) + [
    ROOT / "tests" / "fixtures" / "collapsed-brain-mri-64"
]

LOAD = """
import json, sys
import numpy as np
import keras
from medgan_helpers import runs
out = {"keras": keras.__version__, "images": {}}
for folder in sys.argv[1:]:
    sampler = runs.load_generator(folder)
    out["images"][folder] = sampler.generate(4, seed=0).round(5).tolist()
print("RESULT " + json.dumps(out))
"""


def _keras_floor() -> str:
    """The lowest Keras pyproject.toml allows on this Python (from its dependency lines)."""
    lines = re.findall(r"""['"](keras>=[^'"]+)['"]""", (ROOT / "pyproject.toml").read_text())
    for line in lines:
        version, _, marker = line.removeprefix("keras>=").partition(";")
        if not marker or (">=" in marker) == (sys.version_info >= (3, 11)):
            return version.strip()
    raise AssertionError(f"no keras floor in pyproject.toml: {lines}")


def test_shipped_models_are_weights_plus_build_settings():
    for folder in SHIPPED:
        assert not list(folder.glob("*.keras")), f"{folder.name}: ship weights + settings, not .keras"
        cfg = runs.RunFolder(folder).config
        assert cfg["kind"] == "pretrained" and cfg["models"]["generator"], folder.name
        assert (folder / runs.EMA_WEIGHTS).is_file()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_shipped_models_load_on_the_oldest_supported_keras():
    if sys.version_info < (3, 11):
        pytest.skip("the floor checked here is the Python >= 3.11 one")
    floor = _keras_floor()
    target = config.cache_dir() / f"keras-{floor}"
    if not (target / "keras").is_dir():
        installed = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
             f"keras=={floor}"], capture_output=True, text=True, timeout=300)
        if installed.returncode != 0:
            if os.environ.get("CI"):
                raise AssertionError(f"could not install keras=={floor}: {installed.stderr[-2000:]}")
            pytest.skip(f"keras=={floor} not installable here (offline?): {installed.stderr[-300:]}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)]), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", LOAD, *map(str, SHIPPED)], capture_output=True, text=True,
                          env=env, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["keras"] == floor
    for folder in SHIPPED:
        today = runs.load_generator(folder).generate(4, seed=0)
        np.testing.assert_allclose(np.asarray(result["images"][str(folder)]), today, atol=2e-4)
