"""Known-answer tests of the realism measures (evaluation.realism) and their place in the report.

Real brain-MRI slices at 32 px against themselves and against three known defects:
small Gaussian noise, blur, and flattened contrast. Each measure must stay at its
floor for real vs real and move the right way for each defect.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from medgan_helpers import data, evaluation
from medgan_helpers.evaluation import realism, realism_report

#: two-sample CNN settings of these tests: a few seconds per fit on a 2-core CPU
FAST = {"epochs": 6, "max_images": 400}


@pytest.fixture(scope="module")
def halves() -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random halves of the real brain-mri train split (32 px)."""
    images = data.load_dataset("brain-mri", image_size=32, split="train").images
    order = np.random.default_rng(0).permutation(len(images))
    return images[np.sort(order[: len(images) // 2])], images[np.sort(order[len(images) // 2 :])]


def noisy(images: np.ndarray, sigma: float = 0.05) -> np.ndarray:
    """Small Gaussian noise: 2.5 % of the [-1, 1] range."""
    noise = np.random.default_rng(1).normal(0.0, sigma, images.shape)
    return np.clip(images + noise, -1, 1).astype(np.float32)


def blurred(images: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    return ndimage.gaussian_filter(images, (0, sigma, sigma, 0)).astype(np.float32)


def flattened(images: np.ndarray) -> np.ndarray:
    """Half the contrast inside the body: a tone curve of slope 0.5 above the darkest tissue
    (continuous, so the outline is not sharpened)."""
    knee = np.percentile(images[realism.body_mask(images)], 10)
    return np.where(images > knee, knee + 0.5 * (images - knee), images).astype(np.float32)


DEFECTS = {"noise": noisy, "blur": blurred, "flat contrast": flattened}


# --------------------------------------------------------------------------- classifier two-sample test
def test_two_real_halves_are_not_told_apart(halves):
    a, b = halves
    result = realism.classifier_two_sample_test(a, b, seeds=(0, 1), floor=False, **FAST)
    assert abs(result["accuracy"] - 0.5) <= 0.1, result["per_seed"]
    assert result["floor"] is None and len(result["per_seed"]) == 2
    assert result["n_per_set"] == 400 and result["image_size"] == 32


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_known_defect_is_detected(halves, defect):
    a, b = halves
    result = realism.classifier_two_sample_test(a, DEFECTS[defect](b), seeds=(0,), floor=False, **FAST)
    assert result["accuracy"] >= 0.9, (defect, result["accuracy"])
    top = result["most_fake"]
    assert len(top) == 8 and all(m["p_fake"] > 0.5 for m in top)
    assert [m["p_fake"] for m in top] == sorted((m["p_fake"] for m in top), reverse=True)


def test_the_two_sample_test_names_what_it_needs():
    tiny = np.zeros((10, 16, 16, 1), np.float32)
    with pytest.raises(ValueError, match="at least 20 generated images"):
        realism.classifier_two_sample_test(np.zeros((100, 16, 16, 1), np.float32), tiny)
    with pytest.raises(ValueError, match="seeds is empty"):
        realism.classifier_two_sample_test(np.zeros((100, 16, 16, 1), np.float32), np.zeros((40, 16, 16, 1)), seeds=())


# --------------------------------------------------------------------------- spectrum and intensity
def test_high_frequency_ratio_moves_the_right_way(halves):
    a, b = halves
    assert 0.9 < realism.high_frequency_ratio(b, a) < 1.1
    assert realism.high_frequency_ratio(noisy(b), a) > 1.1
    assert realism.high_frequency_ratio(blurred(b), a) < 0.5
    assert realism.high_frequency_ratio(flattened(b), a) < 0.8


def test_intensity_distance_grows_for_flat_contrast(halves):
    a, b = halves
    floor = realism.intensity_quantile_distance(b, a)
    assert floor < 0.01
    assert realism.intensity_quantile_distance(flattened(b), a) > 10 * floor


def test_the_spectrum_of_a_known_wave():
    """A cosine of 8 cycles across 32 px lies on ring 8 (0.25 cycles/px); the rings keep its energy."""
    x = np.arange(32)
    wave = np.tile(0.5 * np.cos(2 * np.pi * 8 * x / 32), (32, 1))[None, :, :, None]
    freq, power = realism.radial_power_spectrum(wave)
    assert len(freq) == 17 and freq[-1] == 0.5
    assert int(np.argmax(power)) == 8 and freq[8] == 0.25
    faster = np.tile(0.5 * np.cos(2 * np.pi * 12 * x / 32), (32, 1))[None, :, :, None]
    # Parseval: the energy of the whole spectrum is the mean squared pixel (0.125 for amplitude 0.5)
    assert realism.high_frequency_energy(faster)[0] == pytest.approx(0.125)
    assert realism.high_frequency_energy(0.25 * wave / 0.5)[0] == pytest.approx(0.0)  # on the cutoff: not above


def test_the_body_mask_keeps_tissue_and_drops_the_background():
    images = np.full((2, 8, 8, 1), -1.0, np.float32)
    images[:, 2:6, 2:6] = 0.3
    mask = realism.body_mask(images, level=realism.background_level(images))
    assert mask.sum() == 2 * 16
    with pytest.raises(ValueError, match="all background"):
        realism.body_intensities(np.full((2, 8, 8, 1), -1.0, np.float32))


# --------------------------------------------------------------------------- the class-balanced subset
def test_balanced_subset_draws_every_class_equally_from_a_sorted_split():
    labels = np.repeat(np.arange(4), [600, 600, 600, 600])  # stored sorted by class, as brain-mri is
    pick = evaluation.balanced_subset(labels, 800, seed=3)
    assert len(pick) == 800 and len(np.unique(pick)) == 800
    assert np.bincount(labels[pick]).tolist() == [200, 200, 200, 200]
    assert not np.array_equal(pick, evaluation.balanced_subset(labels, 800, seed=4))  # random, not the first
    uneven = np.repeat(np.arange(3), [5, 100, 100])
    counts = np.bincount(uneven[evaluation.balanced_subset(uneven, 90)])
    assert counts[0] == 5 and counts.sum() == 90  # a small class gives all it has
    assert len(evaluation.balanced_subset(None, 10, count=50)) == 10
    with pytest.raises(ValueError, match="count="):
        evaluation.balanced_subset(None, 10)


# --------------------------------------------------------------------------- honest wording
def _fidelity(fd, precision, recall):
    row = {"fd": fd, "precision": precision, "recall": recall}
    return {"fake_vs_train": row, "floor_train_halves": {"fd": 0.18, "precision": 0.9, "recall": 0.95}}


def _blind_results() -> dict:
    """The shipped model's numbers as the issue found them: FD below its floor, a CNN at 0.94."""
    return {"fidelity": _fidelity(0.05, 0.91, 0.97),
            "realism": {"classifier": {"accuracy": 0.94, "accuracy_std": 0.01, "floor": 0.51, "floor_std": 0.02,
                                       "seeds": [0, 1, 2]},
                        "spectrum": {"hf_ratio": 1.6, "hf_ratio_floor": 1.0},
                        "intensity": {"quantile_distance": 0.036, "quantile_distance_floor": 0.01}}}


def test_a_feature_space_at_its_floor_is_called_blind_and_points_to_realism():
    results = _blind_results()
    note = realism_report.blind_spot_note(results)
    assert "FD 0.05 (floor 0.18)" in note and "cannot separate" in note and "accuracy 0.94" in note
    head = evaluation.headline_numbers(results)
    assert "cannot separate" in head["feature space (FD, precision, recall)"]
    assert head["realism: can a fresh CNN tell generated from real?"].startswith("held-out accuracy 0.940 ± 0.010")
    assert "3.6× the floor" in head["intensity inside the body: quantile distance"]
    # FD well above its floor, and only recall at it: the space does separate them
    assert realism_report.blind_spots({"fidelity": _fidelity(0.9, 0.6, 0.97)}) == []
    assert realism_report.blind_spots({"fidelity": _fidelity(0.9, 0.9, 0.96)}) != []  # precision and recall


def test_the_blind_spot_note_agrees_in_number_with_what_it_lists():
    fd_only = realism_report.blind_spot_note({"fidelity": _fidelity(0.05, 0.5, 0.6)})
    assert "FD 0.05 (floor 0.18) is at its real-vs-real floor" in fd_only
    three = realism_report.blind_spot_note(_blind_results())
    assert "are at their real-vs-real floor" in three and "is at its" not in three


# --------------------------------------------------------------------------- in the report
@pytest.mark.slow  # two evaluations with a feature classifier and six two-sample fits: about 30 s
def test_evaluate_reports_realism_with_floors_pictures_and_headline(halves, tmp_path):
    a, b = halves
    labels = np.arange(120) % 4
    fake = blurred(b[:120])
    options = {"utility": False, "kid_subsets": 3, "diversity_pairs": 20, "realism_images": 100,
               "realism_epochs": 4, "feature_epochs": 1, "verbose": False}
    train_labels = np.arange(len(a)) % 4
    report = evaluation.evaluate((a, train_labels), (b[600:], np.arange(len(b) - 600) % 4), fake, labels,
                                 dataset_name="realism-test", **options)
    r = report.realism
    assert r["classifier"]["accuracy"] >= 0.9 and abs(r["classifier"]["floor"] - 0.5) < 0.2
    assert r["spectrum"]["hf_ratio"] < 0.5 < r["spectrum"]["hf_ratio_floor"]
    assert "Realism where the eye looks" in report.table()
    assert any(k.startswith("realism:") for k in report.headline)
    saved = json.loads(report.to_json(tmp_path / "ev.json").read_text())
    assert saved["realism"]["classifier"]["n_per_set"] == 100
    assert report.save_summary_png(tmp_path / "ev.png").read_bytes()[:4] == b"\x89PNG"
    import matplotlib.pyplot as plt

    for name in ("spectrum", "intensity", "most_fake"):
        plt.close(report.plot(name))
    montage = realism_report.most_fake_montage(report._plot)
    assert montage.shape[0] == 2 * 32 + 2  # generated above real, at the same size
    assert realism_report.most_fake_montage(report._plot, per_row=4).shape == (4 * 32 + 3 * 2, 4 * 32 + 3 * 2, 1)
    off = evaluation.evaluate((a, train_labels), (b[600:], np.arange(len(b) - 600) % 4), fake, labels,
                              dataset_name="realism-test", realism=False, **options)
    assert off.realism == {"skipped": "switched off"} and "skipped — switched off" in off.table()
    plt.close(off.plot("spectrum"))


def test_the_index_page_shows_the_realism_headline(tmp_path):
    """artifacts/index.html quotes the headline of each evaluation.json: realism included."""
    from medgan_helpers.jobs import front_page

    results = _blind_results()
    (tmp_path / "evaluation.json").write_text(json.dumps(results))
    block = front_page.evaluation_block(tmp_path, "run")
    assert "can a fresh CNN tell generated from real?" in block and "0.940 ± 0.010" in block
    assert "cannot separate generated from real" in block


def test_too_few_images_skip_realism_with_the_reason():
    from tests.helpers import blobs

    train, y = blobs(60, seed=1)
    fake, _ = blobs(12, seed=2)
    report = evaluation.evaluate((train, y), (train, y), fake, utility=False, kid_subsets=2, diversity_pairs=10,
                                 feature_epochs=1, dataset_name="few", verbose=False)
    assert "too few images" in report.realism["skipped"] and "needs 20 generated" in report.realism["skipped"]
