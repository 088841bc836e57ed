"""``benchmarks/diffusion_vs_gan.py`` end to end in tiny settings (quick networks, a CPU budget of a second,
tiny evaluation sizes), its option checks, and its quality-level table on made-up rows."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TINY = ["--seeds", "0", "--budget-minutes", "0.01", "--checkpoints", "0.5", "1", "--steps-per-epoch", "4",
        "--n-samples", "24", "--eval-steps", "2", "--latency-steps", "1", "3", "--latency-images", "2",
        "--no-tstr", "--extractor-epochs", "1", "--tiny-eval", "--levels", "1.0", "0.0",
        "--gan-knob", "g_base_filters=8", "--gan-knob", "d_base_filters=8", "--gan-knob", "max_filters=16",
        "--gan-knob", "latent_dim=16", "--gan-knob", "batch_size=8", "--gan-knob", "steps_per_execution=1",
        "--diffusion-knob", "base_filters=4", "--diffusion-knob", "max_filters=8", "--diffusion-knob", "depth=1",
        "--diffusion-knob", "time_dim=8", "--diffusion-knob", "batch_size=8", "--diffusion-knob", "sample_steps=2",
        "--diffusion-knob", "steps_per_execution=1"]


@pytest.fixture()
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # it imports its neighbour scoring.py
    spec = importlib.util.spec_from_file_location("diffusion_vs_gan", ROOT / "benchmarks" / "diffusion_vs_gan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # about 100 s: two tiny trainings and four (tiny) evaluations on a 2-core CPU
def test_the_benchmark_runs_both_families_in_tiny_settings(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDGAN_ARTIFACTS", str(tmp_path / "artifacts"))
    out = tmp_path / "diffusion_vs_gan.json"
    assert bench.main([*TINY, "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    rows = saved["rows"]
    assert sorted((r["name"], r["checkpoint"]) for r in rows) == [
        ("GAN", 0.5), ("GAN", 1.0), ("diffusion", 0.5), ("diffusion", 1.0)]
    for family in bench.FAMILIES:
        half, full = sorted((r for r in rows if r["name"] == family), key=lambda r: r["checkpoint"])
        # each checkpoint is scored when the training steps have used its share of the CPU budget
        assert 0.005 <= half["cpu_minutes"] < full["cpu_minutes"] and full["cpu_minutes"] >= 0.01, family
        assert 0 < half["steps"] < full["steps"], family
        assert math.isfinite(full["fd"]) and 0.0 <= full["coverage"] <= 1.0 and 0.5 <= full["two_sample_acc"] <= 1
    assert [r["eval_steps"] for r in rows if r["name"] == "diffusion"] == [2, 2]
    # every seed reaches the level 1.0 of a two-sample accuracy at its first checkpoint, none reaches 0
    for family in bench.FAMILIES:
        first = min(r["cpu_minutes"] for r in rows if r["name"] == family)
        assert saved["levels_reached"][family] == {"1": [first], "0": [None]}
    assert list(saved["latency_ms"]) == ["GAN (1 forward pass)", "diffusion, 1 DDIM steps", "diffusion, 3 DDIM steps"]
    assert all(ms > 0 for ms in saved["latency_ms"].values())
    assert str(tmp_path) not in out.read_text()  # no absolute paths kept
    assert (tmp_path / "artifacts" / "benchmarks" / "diffusion-vs-gan-runs" / "diffusion-seed0").is_dir()
    capsys.readouterr()
    assert bench.main(["--show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert shown.strip() == saved["table"].strip()
    for words in ("2-sample acc", "CPU-minutes of training to reach two_sample_acc", "not reached (0/1)",
                  "GAN (1 forward pass)", "diffusion, 3 DDIM steps", " 50%", "100%"):
        assert words in shown, words


def test_bad_options_are_refused(bench):
    with pytest.raises(SystemExit):
        bench.main(["--checkpoints", "0", "1"])
    with pytest.raises(SystemExit, match="knob 'base_filters': write NAME=VALUE"):
        bench.parse_knobs(["base_filters"])
    assert bench.parse_knobs(["ema_decay=None", "base_filters=16", "loss=hinge"]) == {
        "ema_decay": None, "base_filters": 16, "loss": "hinge"}


def test_minutes_to_a_level_is_the_first_checkpoint_that_reached_it(bench):
    def row(family, seed, minutes, acc):
        return {"name": family, "seed": seed, "cpu_minutes": minutes, "two_sample_acc": acc}

    rows = [row("GAN", 0, 2.0, 0.7), row("GAN", 0, 1.0, 0.9), row("GAN", 1, 1.0, 0.8), row("GAN", 1, 2.0, math.nan),
            row("diffusion", 0, 1.0, 0.95), row("diffusion", 0, 2.0, 0.99)]
    reached = bench.minutes_to_levels(rows, "two_sample_acc", [0.9, 0.75])
    assert reached == {"GAN": {"0.9": [1.0, 1.0], "0.75": [2.0, None]}, "diffusion": {"0.9": [None], "0.75": [None]}}
