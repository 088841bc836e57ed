"""Image-quality metrics of notebook 08, checked against TensorFlow and against known answers."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from medgan_helpers import evaluation
from medgan_helpers.evaluation import image_quality as iq


def structured(n=6, size=48, channels=1, seed=0):
    """Images with edges and texture in [-1, 1] (not only noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    base = np.sin(8 * xx[None] + rng.uniform(0, 6, (n, 1, 1))) * np.cos(5 * yy[None])
    discs = ((xx[None] - rng.uniform(0.3, 0.7, (n, 1, 1))) ** 2 + (yy[None] - 0.5) ** 2 < 0.04)
    images = np.clip(0.5 * base + 0.8 * discs - 0.3, -1, 1)[..., None]
    return np.repeat(images, channels, axis=-1).astype("float32")


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("kind", ["noise", "blur", "shift"])
def test_psnr_and_ssim_match_tensorflow(kind, channels):
    rng = np.random.default_rng(1)
    truth = structured(channels=channels)
    if kind == "noise":
        other = np.clip(truth + rng.normal(0, 0.2, truth.shape), -1, 1)
    elif kind == "blur":
        other = ndimage.gaussian_filter(truth, (0, 1.5, 1.5, 0))
    else:
        other = np.roll(truth, 3, axis=2)
    other = other.astype("float32")
    np.testing.assert_allclose(iq.psnr(other, truth), tf.image.psnr(other, truth, max_val=2.0).numpy(), rtol=1e-5)
    np.testing.assert_allclose(iq.ssim(other, truth), tf.image.ssim(other, truth, max_val=2.0).numpy(), atol=2e-5)
    # and on the 0..255 scale with its own data range
    a, b = (other + 1) * 127.5, (truth + 1) * 127.5
    np.testing.assert_allclose(iq.ssim(a, b, data_range=255), tf.image.ssim(a, b, max_val=255.0).numpy(), atol=2e-5)


def test_psnr_and_ssim_known_values():
    truth = structured()
    assert np.all(np.isinf(iq.psnr(truth, truth)))
    np.testing.assert_allclose(iq.ssim(truth, truth), 1.0, atol=1e-12)
    off = truth + 0.02  # every pixel off by 0.02 on a range of 2: MSE 4e-4 -> 10 log10(4 / 4e-4) = 40 dB
    np.testing.assert_allclose(iq.psnr(off, truth), 40.0, atol=1e-6)
    assert iq.psnr(truth[0], truth[0] + 0.2).shape == (1,)  # one image without the batch axis
    with pytest.raises(ValueError, match="same shape|one shape"):
        iq.psnr(truth, truth[:2])
    with pytest.raises(ValueError, match="smaller than the SSIM window"):
        iq.ssim(truth[:, :8, :8], truth[:, :8, :8])
    assert evaluation.psnr is iq.psnr and evaluation.ssim is iq.ssim


def test_sharpness_sees_blur_and_noise():
    truth = structured()
    assert iq.sharpness(truth, truth) == pytest.approx(1.0)
    blurred = ndimage.gaussian_filter(truth, (0, 1.5, 1.5, 0))
    noisy = truth + np.random.default_rng(0).normal(0, 0.1, truth.shape)
    assert iq.sharpness(blurred, truth) < 0.5 < 1.0 < iq.sharpness(noisy, truth)
    constant = np.full_like(truth, 0.3)
    assert np.abs(iq.high_pass(constant)).max() < 1e-12  # no detail in a flat image


def test_invented_detail_is_detail_that_the_target_lacks():
    truth = structured()
    assert iq.invented_detail(truth, truth) == pytest.approx(0.0, abs=1e-12)
    # blur loses detail but invents none; a brighter image invents none either
    for sigma in (0.7, 1.5, 3.0):
        assert iq.invented_detail(ndimage.gaussian_filter(truth, (0, sigma, sigma, 0)), truth) < 0.01
    assert iq.invented_detail(truth + 0.1, truth) == pytest.approx(0.0, abs=1e-6)
    # exaggerated detail counts: 1.5x the contrast is 2.25x the detail energy, 1.25x of it beyond the truth
    assert iq.invented_detail(1.5 * truth, truth) == pytest.approx(1.25, rel=1e-6)
    # texture that is not in the target, or true detail in the wrong place, is invented
    rng = np.random.default_rng(0)
    fake_texture = truth + 0.2 * iq.high_pass(rng.normal(0, 1, truth.shape))
    shifted = np.roll(truth, 4, axis=2)
    assert iq.invented_detail(fake_texture, truth) > 0.3
    assert iq.invented_detail(shifted, truth) > 0.1
    per_image = iq.invented_detail(fake_texture, truth, per_image=True)
    assert per_image.shape == (len(truth),) and (per_image > 0).all()
    np.testing.assert_allclose(  # the set's number weighs images by their own detail energy
        iq.invented_detail(fake_texture, truth),
        np.sum(per_image * iq.local_detail_energy(truth).sum((1, 2, 3))) / iq.local_detail_energy(truth).sum())
    where = iq.invented_detail_map(fake_texture[0], truth[0])
    assert where.shape == truth.shape[1:3] and where.max() > 0
    assert iq.invented_detail_map(truth[0], truth[0]).max() == 0


def test_compare_scores_every_method_and_fd_in_a_feature_space():
    truth = structured(n=24)
    rng = np.random.default_rng(3)
    methods = {"same": truth, "noisy": np.clip(truth + rng.normal(0, 0.3, truth.shape), -1, 1)}

    def extractor(images):  # image statistics as features: real numbers for the FD maths
        x = np.asarray(images)
        return np.stack([x.mean((1, 2, 3)), x.std((1, 2, 3)), np.abs(np.diff(x, axis=2)).mean((1, 2, 3))], 1)

    table = iq.compare(methods, truth, extractor=extractor)
    assert set(table) == {"same", "noisy"}
    assert table["same"]["fd"] == pytest.approx(0.0, abs=1e-6) and table["noisy"]["fd"] > 0.01
    assert table["same"]["ssim"] == pytest.approx(1.0) and table["noisy"]["psnr"] < 20
    text = iq.format_table(table, "toy")
    assert text.splitlines()[0] == "toy" and "PSNR" in text and "noisy" in text
    assert "fd" not in iq.compare({"same": truth}, truth)["same"]  # no extractor, no FD
