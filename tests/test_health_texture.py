"""The health monitor's cheap realism signal: fine detail of the EMA samples against real images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medgan_helpers import callbacks, data, sampling

QUIET = {"d_real_acc": 0.7, "d_fake_acc": 0.6, "d_grad_norm": 1.0, "g_grad_norm": 1.0, "d_loss": 1.5}


class TransformedRealSampler(sampling.SamplerMixin):
    """An unconditional 'generator' that returns real images, changed by ``transform``."""

    def __init__(self, images: np.ndarray, transform=lambda x: x):
        self.images, self.transform = images, transform
        self.latent_dim, self.num_classes, self._class_names = 8, None, None

    image_size = property(lambda self: self.images.shape[1])
    channels = property(lambda self: self.images.shape[-1])

    def generate_from_latent(self, z, labels=None, batch_size=256):
        index = (np.abs(np.asarray(z)[:, 0]) * 1e6).astype(int) % len(self.images)
        return self.transform(self.images[index])


@pytest.fixture(scope="module")
def brain() -> np.ndarray:
    return data.load_dataset("brain-mri", image_size=32, split="train").images


def noise(x):
    return np.clip(np.random.default_rng(0).uniform(-1, 1, x.shape), -1, 1).astype(np.float32)


def blur(x):
    return ndimage.gaussian_filter(x, (0, 1.5, 1.5, 0)).astype(np.float32)


@pytest.mark.parametrize(("transform", "word"), [(noise, "much noisier"), (blur, "much smoother")])
def test_texture_alarm_fires_for_noise_and_for_blur(brain, transform, word):
    health = callbacks.TrainingHealth(real=brain, warmup_epochs=0, verbose=False)
    record = health.check(TransformedRealSampler(brain, transform), QUIET, epoch=5)
    (alarm,) = [a for a in record["alarms"] if "than real" in a]
    assert word in alarm and "0.5-2.0" in alarm
    assert (record["hf_ratio"] > 2.0) if word == "much noisier" else (record["hf_ratio"] < 0.5)
    assert "fine detail" in callbacks.TrainingHealth.describe(record)


def test_texture_alarm_is_silent_for_real_images_and_within_warmup(brain):
    health = callbacks.TrainingHealth(real=brain, warmup_epochs=0, verbose=False)
    record = health.check(TransformedRealSampler(brain), QUIET, epoch=5)
    assert 0.8 < record["hf_ratio"] < 1.25 and record["alarms"] == []
    waiting = callbacks.TrainingHealth(real=brain, warmup_epochs=3, verbose=False)
    assert waiting.check(TransformedRealSampler(brain, noise), QUIET, epoch=2)["alarms"] == []
    without_real = callbacks.TrainingHealth(verbose=False)  # nothing to compare with: no ratio, no alarm
    assert without_real.check(TransformedRealSampler(brain, noise), QUIET, epoch=5)["hf_ratio"] is None
