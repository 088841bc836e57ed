"""Tests for medgan_helpers.evaluation: every metric against a case with a known answer.

The metric maths runs on small NumPy arrays (milliseconds); the end-to-end test
trains the real (tiny) feature classifier on synthetic 32 px images.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from medgan_helpers import evaluation

RNG = np.random.default_rng(1234)


def blobs(n: int, size: int = 32, seed: int = 0, shift: float = 0.0):
    """Images with one bright blob whose horizontal position encodes the class (3 classes)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    yy, xx = np.mgrid[:size, :size]
    images = np.empty((n, size, size, 1), np.float32)
    for i in range(n):
        cx = size / 4 * (1 + labels[i]) + rng.normal() * 1.5
        cy = size / 2 + rng.normal() * 3 + shift
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (size / 1.6))
        images[i, ..., 0] = blob * 1.8 - 0.9 + rng.normal(size=(size, size)) * 0.05
    return np.clip(images, -1, 1), labels


# --------------------------------------------------------------------------- Fréchet distance
def test_identical_sets_give_zero_fd():
    a = RNG.normal(size=(500, 8))
    assert evaluation.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_fd_matches_the_analytic_value_for_gaussians():
    mu1, mu2 = np.zeros(4), np.array([1.0, -2.0, 0.5, 0.0])
    s1 = np.diag([1.0, 2.0, 0.5, 1.0])
    s2 = np.diag([4.0, 2.0, 2.0, 0.25])
    # diagonal covariances: ||mu1-mu2||² + Σ (σ1² + σ2² - 2 σ1 σ2)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(
        np.diag(s1) + np.diag(s2) - 2 * np.sqrt(np.diag(s1) * np.diag(s2))
    )
    assert evaluation.frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    # sampled: a pure shift of the mean gives ||shift||² (up to sampling noise)
    a = RNG.normal(size=(20000, 4))
    shift = np.array([1.0, 0.0, -1.0, 0.5])
    assert evaluation.frechet_distance(a, a + shift) == pytest.approx(np.sum(shift**2), rel=1e-6)
    b = RNG.normal(size=(20000, 4)) * np.sqrt(np.diag(s2)) + mu2
    sampled = evaluation.frechet_distance(RNG.normal(size=(20000, 4)), b)
    analytic = evaluation.frechet_distance_from_stats(np.zeros(4), np.eye(4), mu2, s2)
    assert sampled == pytest.approx(analytic, rel=0.05)


def test_fd_survives_singular_covariances():
    a = np.zeros((50, 6))
    a[:, 0] = RNG.normal(size=50)  # rank 1 covariance
    b = a + 0.1
    fd = evaluation.frechet_distance(a, b)
    assert np.isfinite(fd) and fd == pytest.approx(6 * 0.01, abs=1e-3)


# --------------------------------------------------------------------------- KID
def test_kid_is_about_zero_for_the_same_distribution_and_positive_otherwise():
    a, b = RNG.normal(size=(600, 16)), RNG.normal(size=(600, 16))
    same_mean, same_std = evaluation.kid(a, b, n_subsets=20, subset_size=300)
    assert abs(same_mean) < 0.01
    assert same_std >= 0
    shifted_mean, _ = evaluation.kid(a, b + 1.5, n_subsets=20, subset_size=300)
    assert shifted_mean > 10 * max(abs(same_mean), 1e-4)


# --------------------------------------------------------------------------- PRDC
def test_identical_sets_give_perfect_precision_recall_coverage():
    a = RNG.normal(size=(300, 8))
    m = evaluation.prdc(a, a.copy(), k=5)
    assert m["precision"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(1.0)
    assert m["coverage"] == pytest.approx(1.0)


def test_collapsed_generator_gets_low_recall_and_coverage():
    real = RNG.normal(size=(400, 8))
    collapsed = np.repeat(real[:1], 400, axis=0)  # one image repeated
    m = evaluation.prdc(real, collapsed, k=5)
    good = evaluation.prdc(real, RNG.normal(size=(400, 8)), k=5)
    assert m["precision"] == pytest.approx(1.0)  # the one sample is realistic …
    assert m["recall"] < 0.05 and m["coverage"] < 0.05  # … but covers nothing
    assert good["recall"] > 0.8 and good["coverage"] > 0.8


# --------------------------------------------------------------------------- classifier scores
def test_auc_matches_hand_computed_cases():
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: pairs won 3 of 4 → 0.75
    assert evaluation.binary_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # a tie counts one half
    assert evaluation.binary_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    y = np.array([0, 1, 2, 0])
    p = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    # class 0: pos {0.8, 0.6} vs neg {0.3, 0.2} → 1; class 1: pos {0.6} vs {0.1, 0.7, 0.3} → 2/3;
    # class 2: pos {0.1} vs {0.1, 0.1, 0.1} → all ties → 0.5
    assert evaluation.macro_auc_ovr(y, p) == pytest.approx((1 + 2 / 3 + 0.5) / 3)


def test_accuracy_and_balanced_accuracy_by_hand():
    y = np.array([0, 0, 0, 0, 1])
    pred = np.array([0, 0, 0, 0, 0])
    assert evaluation.accuracy(y, pred) == pytest.approx(0.8)
    assert evaluation.balanced_accuracy(y, pred) == pytest.approx(0.5)


# --------------------------------------------------------------------------- diversity
def test_ms_ssim_is_one_for_a_collapsed_set_and_lower_for_varied_images():
    images, _ = blobs(40, size=28, seed=3)
    collapsed = np.repeat(images[:1], 40, axis=0)
    assert evaluation.ms_ssim_pairs(collapsed, n_pairs=30).mean() == pytest.approx(1.0, abs=1e-4)
    assert evaluation.ms_ssim_pairs(images, n_pairs=30).mean() < 0.9


def test_ms_ssim_refuses_images_too_small_for_three_scales():
    with pytest.raises(ValueError, match="at least 28 px"):
        evaluation.ms_ssim_pairs(np.zeros((4, 16, 16, 1), np.float32))


# --------------------------------------------------------------------------- memorisation
def test_exact_copies_of_training_images_are_flagged_as_memorised():
    train, _ = blobs(200, seed=1)
    test, _ = blobs(60, seed=2)
    fresh, _ = blobs(60, seed=3)
    copies = train[:60].copy()
    feats = lambda x: x.reshape(len(x), -1)[:, ::16]  # noqa: E731 — any fixed map will do here
    mem_copy, _ = evaluation.memorisation(copies, train, test, feats(copies), feats(train), feats(test))
    mem_fresh, _ = evaluation.memorisation(fresh, train, test, feats(fresh), feats(train), feats(test))
    assert mem_copy["pixel"]["possible_copies_fraction"] == 1.0
    assert mem_copy["feature"]["possible_copies_fraction"] == 1.0
    assert mem_copy["pixel"]["min_fake_to_train"] == pytest.approx(0.0, abs=1e-5)
    assert mem_fresh["pixel"]["possible_copies_fraction"] < 0.2


def test_held_out_training_images_are_flagged_at_about_the_chosen_percentile():
    """The copy threshold comes from the training distribution itself (leave-one-out distances in
    train), so new images from that distribution are flagged at about the percentile — and the
    shifted test split's threshold, kept as a second number, flags many more of them."""
    from medgan_helpers import data

    brain = data.load_dataset("brain-mri", image_size=32, split="train")
    shifted = data.load_dataset("brain-mri", image_size=32, split="test").images
    order = np.random.default_rng(0).permutation(len(brain))
    held_out, train = brain.images[order[:600]], brain.images[order[600:]]
    flat = lambda x: x.reshape(len(x), -1)[:, ::8]  # noqa: E731 — a fixed feature map
    for percentile in (1.0, 5.0):
        mem, _ = evaluation.memorisation(held_out, train, shifted, flat(held_out), flat(train), flat(shifted),
                                         percentile=percentile)
        flagged = mem["pixel"]["possible_copies_fraction"] * 100
        assert percentile / 3 <= flagged <= percentile * 2.5, (percentile, flagged)
        assert mem["pixel"]["possible_copies_fraction_test"] * 100 > 2 * flagged
    copies = train[:50] + np.random.default_rng(1).normal(0, 0.002, train[:50].shape).astype("float32")
    mem, _ = evaluation.memorisation(copies, train, shifted, flat(copies), flat(train), flat(shifted))
    assert mem["pixel"]["possible_copies_fraction"] == 1.0 and mem["feature"]["possible_copies_fraction"] == 1.0


def test_small_samples_negative_kid_and_floors_are_explained():
    meta = {"n_train": 150, "n_test": 600, "n_fake": 1000}
    fid = {"fake_vs_train": {"fd": 0.1, "kid": -0.0004}, "floor_train_halves": {"fd": 0.2, "kid": 0.001},
           "test_vs_train": {"fd": 13.0, "kid": 0.5}, "fake_vs_test": {"fd": 20.0, "kid": 0.9}}
    notes = evaluation.reading_notes({"meta": meta, "fidelity": fid})
    assert any("Small samples" in n and "real train 150" in n for n in notes)
    assert any("negative" in n and "unbiased" in n for n in notes)
    assert any("below the noise floor" in n for n in notes)
    head = evaluation.headline_numbers({"fidelity": fid, "notes": notes})
    assert any(k.startswith("note") and "Small samples" in v for k, v in head.items())
    quiet = {"n_train": 2400, "n_test": 600, "n_fake": 1000}
    fid_ok = {**fid, "fake_vs_train": {"fd": 0.5, "kid": 0.001}}
    assert evaluation.reading_notes({"meta": quiet, "fidelity": fid_ok}) == []


# --------------------------------------------------------------------------- bad input
def test_bad_shapes_and_ranges_raise_clear_errors():
    train, _ = blobs(40)
    with pytest.raises(ValueError, match="channel axis"):
        evaluation.check_images(train[..., 0], "fake_images")
    with pytest.raises(ValueError, match="4-D"):
        evaluation.check_images(np.zeros((10, 32)), "fake_images")
    with pytest.raises(ValueError, match="outside \\[-1, 1\\].*127.5"):
        evaluation.check_images(train * 127.5 + 127.5, "fake_images")
    with pytest.raises(ValueError, match="uint8"):
        evaluation.check_images(np.zeros((4, 32, 32, 1), np.uint8), "fake_images")
    with pytest.raises(ValueError, match="NaN"):
        evaluation.check_images(np.full((4, 32, 32, 1), np.nan, np.float32), "fake_images")
    with pytest.raises(ValueError, match="same image shape"):
        evaluation.evaluate(train, train, np.zeros((40, 28, 28, 1), np.float32), verbose=False)


def test_too_few_samples_says_how_many_are_needed():
    train, _ = blobs(40)
    with pytest.raises(ValueError, match=r"fake_images has 3 samples.*at least 10"):
        evaluation.evaluate(train, train, train[:3], verbose=False)
    with pytest.raises(ValueError, match=r"needs at least 10"):
        evaluation.frechet_distance(RNG.normal(size=(5, 3)), RNG.normal(size=(50, 3)))
    with pytest.raises(ValueError, match=r"prdc needs at least 6"):
        evaluation.prdc(RNG.normal(size=(50, 3)), RNG.normal(size=(4, 3)))


def test_missing_labels_for_tstr_raise():
    train, y = blobs(40)
    with pytest.raises(ValueError, match="fake_labels"):
        evaluation.evaluate(
            (train, y), (train, y), train, None, utility=True, verbose=False
        )
    with pytest.raises(ValueError, match="valid labels 0…2"):
        evaluation.evaluate((train, y), (train, y), train, np.full(40, 7), verbose=False)


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_evaluate_end_to_end_with_the_real_classifier(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGAN_CACHE_DIR", str(tmp_path / "cache"))
    train, y_train = blobs(240, seed=10)
    test, y_test = blobs(90, seed=11, shift=1.0)
    fake, y_fake = blobs(120, seed=12)
    extractor = evaluation.feature_extractor((train, y_train), dataset_name="blobs", epochs=3, verbose=False)
    assert extractor.info["cached"] is False
    report = evaluation.evaluate(
        (train, y_train), (test, y_test), fake, y_fake, extractor=extractor,
        utility_seeds=(0, 1, 2), utility_epochs=1, kid_subsets=5, diversity_pairs=40, verbose=False,
    )
    r = report.results
    assert set(r["fidelity"]) == {"fake_vs_train", "fake_vs_test", "floor_train_halves", "test_vs_train"}
    for key in ("tstr", "trtr", "mixed"):
        assert len(r["utility"]["seeds"]) == 3
        assert 0.0 <= r["utility"][key]["accuracy"] <= 1.0
    table = report.table()
    assert "noise floor" in table and "TSTR" in table and "possible copies" in table
    assert "<pre" in report._repr_html_()
    saved = json.loads(report.to_json(tmp_path / "ev.json").read_text())
    assert saved["meta"]["n_fake"] == 120
    png = report.save_summary_png(tmp_path / "ev.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    figs = report.plots()
    assert set(figs) >= {"feature_space", "nearest_neighbours", "diversity", "utility"}
    import matplotlib.pyplot as plt

    for fig in figs.values():
        plt.close(fig)
    # the frozen feature classifier is cached: a second run loads it instead of training
    again = evaluation.feature_extractor((train, y_train), dataset_name="blobs", epochs=3, verbose=False)
    assert again.info["cached"] is True
    np.testing.assert_allclose(again(fake[:8]), extractor(fake[:8]), rtol=1e-5, atol=1e-5)
    # a collapsed generator scores worse on diversity and coverage than the varied one
    collapsed = evaluation.evaluate(
        (train, y_train), (test, y_test), np.repeat(fake[:1], 120, axis=0), None, extractor=extractor,
        kid_subsets=5, diversity_pairs=40, references=False, realism=False, verbose=False,
    )  # realism is tested in test_realism.py; here only the feature-space numbers matter
    c = collapsed.results
    assert c["utility"]["skipped"]
    assert c["diversity"]["fake_mean"] > 0.99 > r["diversity"]["fake_mean"]
    assert c["fidelity"]["fake_vs_train"]["coverage"] < r["fidelity"]["fake_vs_train"]["coverage"]
    assert c["fidelity"]["fake_vs_train"]["recall"] < 0.1


# --------------------------------------------------------------------------- runs on disk
def test_reports_for_the_pretrained_model_never_go_into_the_data_folder(tmp_path, monkeypatch):
    from medgan_helpers import config

    monkeypatch.setenv("MEDGAN_ARTIFACTS", str(tmp_path / "artifacts"))
    pretrained = config.pretrained_dir() / "brain-mri-64"
    out = evaluation.output_dir_for(pretrained, "brain-mri")
    assert out == tmp_path / "artifacts" / "evaluations" / "pretrained-brain-mri-64"
    run = tmp_path / "artifacts" / "runs" / "brain-mri-64px-x"
    assert evaluation.output_dir_for(run) == run


def test_cli_reports_a_missing_run_clearly(tmp_path, capsys):
    assert evaluation.main([str(tmp_path / "no-such-run")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_run_writes_json_and_png_into_the_run(tmp_path, monkeypatch):
    from medgan_helpers import data, training

    monkeypatch.setenv("MEDGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MEDGAN_ARTIFACTS", str(tmp_path / "artifacts"))
    real = data.load_dataset("brain-mri", image_size=32, split="train").subset(np.arange(0, 2400, 25))
    run_dir = tmp_path / "run"
    training.train(real, run_dir=run_dir, verbose=0, display=False, epochs=1, batch_size=32,
                   g_base_filters=8, d_base_filters=8, max_filters=32, max_images=None)
    report = evaluation.evaluate_run(
        run_dir, n_samples=40, utility=False, max_real=300, kid_subsets=3, diversity_pairs=20
    )
    saved = json.loads((run_dir / "evaluation.json").read_text())
    assert saved["meta"]["dataset"] == "brain-mri" and saved["meta"]["n_fake"] == 40
    assert (run_dir / "evaluation.png").read_bytes()[:4] == b"\x89PNG"
    assert report.results["files"]["json"] == "evaluation.json"  # a name, never a machine path


def test_inception_features_need_local_weights_and_never_download(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    train, _ = blobs(30)
    with pytest.raises(FileNotFoundError, match="never downloads"):
        evaluation.feature_extractor(train, kind="inception")
    with pytest.raises(ValueError, match="'classifier' or 'inception'"):
        evaluation.feature_extractor(train, kind="resnet")


def test_percentiles_read_as_english_ordinals():
    from medgan_helpers.evaluation.report import ordinal

    assert [ordinal(x) for x in (1, 2, 3, 4, 11, 12, 13, 21, 101, 2.5)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "101st", "2.5th"]
