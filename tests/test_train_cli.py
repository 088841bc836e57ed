"""The command-line trainer, ``python -m medgan_helpers.train_cli`` (console script ``medgan-train``), in one process.

Its options come from ``recipe.GAN_DEFAULTS``; a tiny brain-mri run goes through
``training.train`` into a run folder that ``runs.load_generator`` loads. The
two-worker run is in ``test_multiworker.py``.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from medgan_helpers import recipe, runs
from medgan_helpers import train_cli as cli

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "brain-mri", "--image-size", "32", "--quick", "--epochs", "2", "--max-images", "64",
        "--batch-size", "16", "--g-base-filters", "4", "--d-base-filters", "4", "--max-filters", "8",
        "--latent-dim", "8"]


def _knobs(argv: list[str]) -> dict:
    args = cli.build_parser().parse_args(argv)
    return {knob: getattr(args, knob) for knob in recipe.GAN_DEFAULTS if hasattr(args, knob)}


def test_every_recipe_knob_is_an_option_with_its_type():
    help_text = cli.build_parser().format_help()
    for knob in recipe.GAN_DEFAULTS:
        assert "--" + knob.replace("_", "-") in help_text, knob
    assert _knobs([]) == {}  # nothing given: the recipe (or its quick values) decides
    given = _knobs(["--epochs", "30", "--d-lr", "4e-4", "--no-spectral-norm", "--minibatch-std",
                    "--ema-decay", "none", "--max-images", "100", "--ada-target", "0.6",
                    "--augment", "translation,cutout", "--loss", "bce", "--steps-per-epoch", "none"])
    assert given == {"epochs": 30, "d_lr": 4e-4, "spectral_norm": False, "minibatch_std": True,
                     "ema_decay": None, "max_images": 100, "ada_target": 0.6,
                     "augment": "translation,cutout", "loss": "bce", "steps_per_epoch": None}
    assert type(given["epochs"]) is int and type(given["d_lr"]) is float


def test_a_wrong_value_is_refused_by_name(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.build_parser().parse_args(["--epochs", "2.5"])
    assert stop.value.code == 2
    assert "--epochs" in capsys.readouterr().err


def test_tf_config_decides_how_many_workers():
    assert cli.cluster_size("") == 0
    one = {"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}
    assert cli.cluster_size(json.dumps(one)) == 1
    two = {"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "chief", "index": 0}}
    assert cli.cluster_size(json.dumps(two)) == 2
    with pytest.raises(ValueError, match="ps"):
        cli.cluster_size(json.dumps({"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {}}))
    with pytest.raises(ValueError, match="task"):
        cli.cluster_size(json.dumps({"cluster": {"worker": ["a:1", "b:1"]}}))
    with pytest.raises(ValueError, match="JSON"):
        cli.cluster_size("worker=a:1")


def test_a_source_it_cannot_train_is_refused_before_training(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.run_cli(["--dataset", "brain-mri-pairs", "--image-size", "32"])
    assert stop.value.code == 2
    assert "brain-mri, a MedMNIST 2D flag" in capsys.readouterr().err


def test_the_console_script_is_the_cli(capsys):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["medgan-train"].split(":")
    entry = getattr(importlib.import_module(module), function)
    assert entry is cli.main
    with pytest.raises(SystemExit) as stop:
        entry(["--help"])
    assert stop.value.code == 0
    assert "--d-lr" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_cli_trains_a_tiny_run_into_a_run_folder(tmp_path, monkeypatch, capsys):
    from medgan_helpers import accel

    monkeypatch.setenv("MEDGAN_ARTIFACTS", str(tmp_path))
    monkeypatch.delenv("TF_CONFIG", raising=False)
    try:
        summary = cli.run_cli([*TINY, "--d-lr", "4e-4", "--no-spectral-norm", "--verbose", "0"])
    finally:
        accel.reset()
    out = capsys.readouterr().out
    assert summary["chief"] is True and summary["workers"] == 1
    assert summary["steps"] == 8  # 64 images / batch 16 x 2 epochs
    assert re.fullmatch(r"runs/brain-mri-32px-[0-9-]+-[0-9a-f]{4}", summary["run"]), summary
    assert "Trained 8 steps" in out and summary["run"] in out and summary["fingerprint"] in out
    assert str(tmp_path) not in out  # a run-folder name, never a path

    folder = tmp_path / summary["run"]
    config = runs.RunFolder(folder).config
    assert config["status"] == "finished" and config["steps"] == 8
    assert config["knobs"]["d_lr"] == 4e-4 and config["knobs"]["spectral_norm"] is False
    assert config["knobs"]["g_base_filters"] == 4 and config["knobs"]["epochs"] == 2
    assert str(tmp_path) not in (folder / runs.CONFIG).read_text()
    images = runs.load_generator(folder).generate(4, seed=0)
    assert images.shape == (4, 32, 32, 1) and np.isfinite(images).all()
