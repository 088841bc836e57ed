"""Notebook 09's exercise checks (theory and the health monitor) pass with the solutions
printed in the notebook and fail with wrong answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medgan_helpers.exercises import nb09
from tests.helpers import ROOT, assert_checks_reexported, solution_blocks


def test_nb09_checks_are_reexported():
    assert_checks_reexported("09")


def test_nb09_ex1_js_divergence():
    assert nb09.check_js_divergence(nb09.js_divergence)
    assert not nb09.check_js_divergence(lambda p, q: 0.0)
    assert not nb09.check_js_divergence(lambda p, q: nb09.js_divergence(p, q) / np.log(2))  # bits
    naive = lambda p, q: 0.5 * np.sum(p * np.log(p / ((p + q) / 2))) + 0.5 * np.sum(q * np.log(q / ((p + q) / 2)))  # noqa: E731
    assert not nb09.check_js_divergence(naive)  # NaN where p or q is 0
    assert not nb09.check_js_divergence(lambda p, q: 0.5 * np.sum(p * np.log(np.maximum(p, 1e-300) / q)))  # KL
    assert not nb09.check_js_divergence("not a function")


def test_nb09_ex1_js_divergence_reference():
    p = np.array([0.5, 0.5, 0.0, 0.0])
    assert nb09.js_divergence(p, p[::-1]) == pytest.approx(np.log(2))
    assert nb09.js_divergence(p, p) == pytest.approx(0.0)


def test_nb09_ex2_generator_gradients():
    def right(logit):
        s = 1 / (1 + np.exp(-logit))
        return -s, -(1 - s)

    assert nb09.check_generator_gradients(right)
    assert not nb09.check_generator_gradients(lambda logit: (0.0, 0.0))
    assert not nb09.check_generator_gradients(lambda logit: tuple(-g for g in right(logit)))  # signs
    assert not nb09.check_generator_gradients(lambda logit: right(logit)[::-1])  # swapped
    assert not nb09.check_generator_gradients(lambda logit: right(logit)[0])  # one number


def test_nb09_ex3_health_mystery_uses_the_stored_gallery():
    gallery = json.loads((ROOT / "docs" / "gallery" / "gallery.json").read_text())
    hidden = nb09.health_mystery(gallery)
    assert set(hidden) == {"A", "B", "C"}
    right = dict(zip("ABC", nb09.MYSTERY_CASES))
    assert nb09.check_health_mystery(right, gallery)
    shuffled = dict(zip("ABC", nb09.MYSTERY_CASES[1:] + nb09.MYSTERY_CASES[:1]))
    assert not nb09.check_health_mystery(shuffled, gallery)
    assert not nb09.check_health_mystery({"A": None, "B": None, "C": None}, gallery)
    assert not nb09.check_health_mystery({"A": "baseline"}, gallery)
    # the readings really are stored mid-run records, names hidden: not the last ones, which the
    # notebook prints by name (they could be looked up instead of read)
    for letter, case in right.items():
        records = gallery["cases"][case]["records"]
        assert hidden[letter] == records[(len(records) - 1) // 2] != records[-1]
    # the signatures the check's verdict names are in the stored readings
    base = nb09.health_mystery({"cases": {case: gallery["cases"]["baseline"] for case in nb09.MYSTERY_CASES}})["C"]
    a, b, c = hidden["A"], hidden["B"], hidden["C"]
    assert a["d_real_acc"] > 0.95 and a["d_fake_acc"] < 0.1 and abs(a["d_loss"] - 2.0) < 0.1  # D calls all real
    assert a["g_grad_norm"] < 0.1 * base["g_grad_norm"] and min(a["class_diversity_ratio"].values()) < 0.6
    assert min(b["d_real_acc"], b["d_fake_acc"]) > 0.95 and b["d_loss"] < 0.3  # D right on almost every image
    assert 0.8 < min(c["d_real_acc"], c["d_fake_acc"]) < 0.95 and c["g_grad_norm"] > 3 * base["g_grad_norm"]


def test_nb09_solutions_pass_their_checks():
    blocks = solution_blocks("09_gan_theory_and_failure_modes.py")
    namespace = {"np": np}
    for block in blocks:
        exec(block, namespace)
    assert nb09.check_js_divergence(namespace["js_divergence"])
    assert nb09.check_generator_gradients(namespace["generator_gradients"])
