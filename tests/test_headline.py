"""The headline numbers quoted on the index page and in synthetic data cards."""

from __future__ import annotations

from medgan_helpers.evaluation import headline_numbers


def _results():
    fid = {"fd": 1.5, "kid": 0.001, "kid_std": 0.0001, "precision": 0.78, "recall": 0.61,
           "density": 0.9, "coverage": 0.22}
    return {
        "fidelity": {
            "fake_vs_train": fid,
            "floor_train_halves": {**fid, "fd": 0.18},
            "test_vs_train": {**fid, "fd": 13.3, "precision": 0.27},
        },
        "diversity": {"fake_mean": 0.45, "fake_std": 0.1, "real_mean": 0.37, "real_std": 0.1},
        "memorisation": {
            space: {"possible_copies_fraction": frac, "possible_copies": 3, "threshold": 0.1}
            for space, frac in (("pixel", 0.136), ("feature", 0.2))
        },
        "utility": {
            "tstr": {"accuracy": 0.69, "accuracy_std": 0.02},
            "trtr": {"accuracy": 0.91, "accuracy_std": 0.01},
        },
    }


def test_privacy_comes_first_and_each_number_has_its_reference():
    head = headline_numbers(_results())
    keys = list(head)
    assert keys[0] == "possible copies (pixel space)"
    assert head["possible copies (pixel space)"].startswith("13.6 %")
    assert head["FD to real train"] == "1.50 (noise floor 0.18, real test vs train 13.30)"
    assert head["precision vs real train"] == "0.780 (real test: 0.270)"
    assert "0.690 ± 0.020" in head["accuracy: train on synthetic, test on real (TSTR)"]
    assert "TRTR: 0.910 ± 0.010" in head["accuracy: train on synthetic, test on real (TSTR)"]


def test_missing_sections_are_left_out():
    results = _results()
    results["utility"] = {"skipped": "no labels"}
    del results["memorisation"]
    head = headline_numbers(results)
    assert not any("copies" in k or "TSTR" in k for k in head)
    assert "FD to real train" in head
