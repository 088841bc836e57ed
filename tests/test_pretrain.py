"""The pretrained-model job: train, export the sampling files, write the card."""

from __future__ import annotations

import numpy as np
import pytest

from medgan_helpers import runs
from medgan_helpers.jobs import pretrain


@pytest.mark.slow
def test_pretrain_exports_a_loadable_generator_and_a_card(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGAN_ARTIFACTS", str(tmp_path / "artifacts"))
    out = tmp_path / "brain-mri-64"
    pretrain.main(["--out", str(out), "--epochs", "1", "--knob", "max_images=64", "--knob", "g_base_filters=4",
                   "--knob", "d_base_filters=4", "--knob", "max_filters=8", "--knob", 'upsampling="nearest"'])
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "config.json", "generator_ema.weights.h5",
                                                       "samples.png"]
    config = runs.RunFolder(out).config
    assert config["kind"] == "pretrained" and config["models"]["generator"]["upsampling"] == "nearest"
    sampler = runs.load_generator(out)
    assert sampler.num_classes == 4 and np.isfinite(sampler.generate(4, seed=0)).all()
    card = (out / "MODEL_CARD.md").read_text()
    assert "--knob upsampling=nearest" in card and "upsampling `nearest`" in card
    assert "Not evaluated yet" in card and str(tmp_path) not in card
    assert not list((tmp_path / "artifacts" / "runs").glob("*"))  # the training run is removed


@pytest.mark.slow
def test_pretrain_diffusion_exports_a_loadable_sampler_and_a_card(tmp_path, monkeypatch):
    from medgan_helpers import diffusion

    monkeypatch.setenv("MEDGAN_ARTIFACTS", str(tmp_path / "artifacts"))
    out = tmp_path / "brain-mri-64-diffusion"
    tiny = ["--knob", "max_images=64", "--knob", "base_filters=8", "--knob", "max_filters=8",
            "--knob", "sample_steps=3", "--knob", "health_steps=2"]
    pretrain.main(["--family", "diffusion", "--out", str(out), "--epochs", "1", *tiny])
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "config.json", "generator_ema.weights.h5",
                                                       "samples.png"]
    config = runs.RunFolder(out).config
    assert config["kind"] == "pretrained" and config["family"] == "diffusion"
    assert config["models"]["generator"]["builder"] == "diffusion.build_denoiser"
    sampler = runs.load_generator(out)  # the same loader as the GAN's, the same sampler protocol
    assert isinstance(sampler, diffusion.DiffusionSampler) and sampler.num_classes == 4 and sampler.steps == 3
    assert sampler.info["steps"] == config["info"]["steps"] == 2 and sampler.info["seconds"] > 0  # the card's facts
    first, again = sampler.generate(4, seed=0), sampler.generate(4, seed=0)
    assert np.isfinite(first).all() and np.array_equal(first, again)
    card = (out / "MODEL_CARD.md").read_text()
    assert card.startswith("# Pretrained diffusion model: brain-mri, 64 px")
    assert "--family diffusion" in card and "--knob base_filters=8" in card and "DDIM, 3 steps" in card
    assert "Not evaluated yet" in card and str(tmp_path) not in card
    assert not list((tmp_path / "artifacts" / "diffusion").glob("*"))  # the training run is removed
    with pytest.raises(ValueError, match="not a finished diffusion run"):
        pretrain.export_diffusion(out, tmp_path / "again", "cmd")  # a pretrained folder is not a training run
