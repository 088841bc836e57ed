"""Notebook 07's exercise checks accept right answers and reject wrong ones.

Exercises 1-3 change the evaluation and measure it (issue 14); the notebook's printed
solutions pass their checks.
"""

from __future__ import annotations

import numpy as np
import pytest

from medgan_helpers import callbacks, data, demo, evaluation, own_data
from medgan_helpers.exercises import nb07
from tests.helpers import assert_checks_reexported, blob_set, solution_blocks, tiny_gan


def test_nb07_checks_are_reexported():
    assert_checks_reexported("07")


@pytest.fixture(scope="module")
def small_run():
    train, test = blob_set(80, seed=0), blob_set(40, seed=1)
    model = tiny_gan()
    # stand-in "generated" images that vary like real ones (an untrained G's all look alike)
    fakes = np.clip(blob_set(48, seed=3).images + np.random.default_rng(3).normal(0, 0.1, (48, 32, 32, 1)), -1, 1)
    return model, train, test, fakes.astype(np.float32)


def _features(images):
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    return flat[:, ::64]  # 16 of the 1,024 pixels: a stand-in feature space


def test_nb07_ex1_copy_threshold(small_run):
    _, train, test, fakes = small_run
    numbers, _ = evaluation.memorisation(fakes, train.images, test.images, _features(fakes),
                                         _features(train.images), _features(test.images), percentile=5)
    right = numbers["pixel"]["possible_copies_fraction"]
    assert nb07.check_copy_threshold(right, fakes, train, test, percentile=5)
    at_one, _ = evaluation.memorisation(fakes, train.images, test.images, _features(fakes),
                                        _features(train.images), _features(test.images), percentile=1)
    if at_one["pixel"]["possible_copies_fraction"] != right:
        assert not nb07.check_copy_threshold(at_one["pixel"]["possible_copies_fraction"], fakes, train, test)
    assert not nb07.check_copy_threshold(right + 0.1, fakes, train, test)
    assert not nb07.check_copy_threshold(None, fakes, train, test)


def test_nb07_ex2_fd_sample_size(small_run):
    _, train, _, fakes = small_run
    real = _features(train.images)
    fd_20 = evaluation.frechet_distance(real, _features(fakes[:20]))
    fd_all = evaluation.frechet_distance(real, _features(fakes))
    assert nb07.check_fd_sample_size(fd_20, fd_all, _features, train, fakes)
    assert not nb07.check_fd_sample_size(fd_all, fd_20, _features, train, fakes)  # swapped
    assert not nb07.check_fd_sample_size(fd_20, fd_20, _features, train, fakes)
    assert not nb07.check_fd_sample_size(None, None, _features, train, fakes)


def test_nb07_ex3_truncated_diversity(small_run):
    model, train, _, _ = small_run
    real_64 = train.images[np.random.default_rng(0).permutation(len(train))[:64]]
    real_diversity = callbacks.sample_diversity(real_64)
    plain = callbacks.sample_diversity(model.generate(64, seed=0)) / real_diversity
    truncated = callbacks.sample_diversity(model.generate(64, seed=0, truncation=0.5)) / real_diversity
    assert nb07.check_truncated_diversity(plain, truncated, 0.5, model, train)
    assert not nb07.check_truncated_diversity(plain, plain, 0.5, model, train)  # truncation forgotten
    assert not nb07.check_truncated_diversity(truncated, plain, 0.5, model, train)
    assert not nb07.check_truncated_diversity(None, None, 0.5, model, train)


def test_nb07_solutions_pass_their_checks(small_run, cache):
    gan, train, test, fakes = small_run
    EVAL = evaluation.settings(quick=True)  # noqa: N806 (the notebook's name)
    EVAL["feature_epochs"] = 1
    namespace = {"np": np, "evaluation": evaluation, "callbacks": callbacks, "EVAL": EVAL, "train": train,
                 "test": test, "fakes": fakes, "gan": gan}
    blocks = solution_blocks("07_your_own_data.py")
    assert len(blocks) == 3
    for block in blocks:
        exec(block, namespace)
    assert nb07.check_copy_threshold(namespace["copies_at_5"], fakes, train, test, percentile=5)
    assert nb07.check_fd_sample_size(namespace["fd_20"], namespace["fd_all"], namespace["extractor"], train, fakes)
    assert nb07.check_truncated_diversity(namespace["ratio_plain"], namespace["ratio_truncated"], 0.5, gan, train)
    # the notebook's starting values are wrong answers
    assert not nb07.check_copy_threshold(None, fakes, train, test, percentile=5)
    assert not nb07.check_fd_sample_size(None, None, namespace["extractor"], train, fakes)
    assert not nb07.check_truncated_diversity(None, None, 0.5, gan, train)


# ----------------------------------------------------------------- checks no exercise calls yet
def test_nb07_min_images():
    counts = {"a": 100, "b": 40, "c": 2}
    assert nb07.check_min_images(10, counts, drop="c")
    assert not nb07.check_min_images(2, counts, drop="c")
    assert not nb07.check_min_images(50, counts, drop="c")


def test_nb07_skipped():
    report = data.LoadReport("x", "train")
    report.skip("a.png", "constant image")
    report.skip("b.png", "duplicate of a.png")
    report.skip("c.dcm", "truncated")
    assert nb07.check_skipped(3, 1, report)
    assert not nb07.check_skipped(3, 0, report)
    assert not nb07.check_skipped(2, 1, report)


def test_nb07_privacy_scan(tmp_path):
    (tmp_path / "labels.csv").write_text("file,label\n")
    needles = [demo.DEMO_PATIENT_NAME, demo.DEMO_PATIENT_ID]
    assert nb07.check_privacy_scan(own_data.privacy_scan(needles, folders=[tmp_path]), tmp_path)
    only_name = own_data.privacy_scan([demo.DEMO_PATIENT_NAME], folders=[tmp_path])
    assert not nb07.check_privacy_scan(only_name, tmp_path)
    (tmp_path / "leak.txt").write_text(demo.DEMO_PATIENT_ID)
    assert not nb07.check_privacy_scan(own_data.privacy_scan(needles, folders=[tmp_path]), tmp_path)
