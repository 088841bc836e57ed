"""Checks for notebook 07 (your own data)."""

from __future__ import annotations

from collections.abc import Mapping

from medgan_helpers.evaluation.report import ordinal
from medgan_helpers.exercises._verdict import verdict


def check_min_images(min_images: int, class_counts: Mapping[str, int], drop: str) -> bool:
    """Exercise 1: a MIN_IMAGES_PER_CLASS that drops class ``drop`` and keeps all others."""
    kept = [name for name, n in class_counts.items() if n >= min_images]
    ok = drop not in kept and len(kept) == len(class_counts) - 1
    return verdict(
        ok,
        f"with {min_images} only {drop!r} is dropped; {len(kept)} classes remain.",
        f"the counts are {dict(class_counts)}; pick a value above {class_counts.get(drop)} "
        "but not above the next-smallest class.",
    )


def check_skipped(n_skipped: int, n_duplicates: int, report) -> bool:
    """Exercise 2: how many files did the loader skip, and how many as duplicates?"""
    total = len(report.skipped)
    duplicates = sum("duplicate" in reason for _, reason in report.skipped)
    ok = int(n_skipped) == total and int(n_duplicates) == duplicates
    return verdict(
        ok,
        f"{total} files were skipped, {duplicates} of them as duplicates.",
        "count the (file, reason) pairs in report.skipped, and those whose reason "
        "mentions 'duplicate'.",
    )


def check_privacy_scan(scan, export_folder) -> bool:
    """Exercise 3: scan the export for the patient ID as well as the name — and find nothing."""
    from medgan_helpers import demo

    wanted = {demo.DEMO_PATIENT_NAME, demo.DEMO_PATIENT_ID}
    searched_export = any(str(export_folder) in place for place in scan.searched)
    ok = wanted <= set(scan.needles) and searched_export and scan.clean
    return verdict(
        ok,
        "neither the name nor the ID of the demo patient appears in the export.",
        "call own_data.privacy_scan([DEMO_PATIENT_NAME, DEMO_PATIENT_ID], folders=[export_folder]).",
    )


def _pixel_copies(fakes, train, test, percentile: float) -> dict:
    """The kit's pixel-space memorisation numbers at ``percentile`` (features are not needed for them)."""
    import numpy as np

    from medgan_helpers import evaluation

    flat = [np.asarray(x, np.float32).reshape(len(x), -1)[:, :8] for x in (fakes, train, test)]
    numbers, _ = evaluation.memorisation(np.asarray(fakes, np.float32), np.asarray(train, np.float32),
                                         np.asarray(test, np.float32), *flat, percentile=percentile)
    return numbers["pixel"]


def _images(x):
    return x.images if hasattr(x, "images") else x


def check_copy_threshold(fraction: float, fakes, train, test, percentile: float = 5.0) -> bool:
    """Exercise 1: the pixel-space possible-copies fraction at the ``percentile``-th percentile."""
    import math

    strict = _pixel_copies(fakes, _images(train), _images(test), percentile)
    usual = _pixel_copies(fakes, _images(train), _images(test), 1.0)
    try:
        ok = math.isclose(float(fraction), strict["possible_copies_fraction"], abs_tol=1e-9)
    except (TypeError, ValueError):
        ok = False
    if (not ok and fraction is not None
            and math.isclose(float(fraction), usual["possible_copies_fraction"], abs_tol=1e-9)):
        return verdict(False, "", "that is the fraction at the usual 1st percentile: pass "
                       f"percentile={percentile:g} to evaluation.memorisation.")
    return verdict(
        ok,
        f"{strict['possible_copies_fraction']:.1%} of the generated images are flagged at the "
        f"{ordinal(percentile)} percentile (threshold {strict['threshold']:.3f}), against "
        f"{usual['possible_copies_fraction']:.1%} at the 1st (threshold {usual['threshold']:.3f}). By "
        f"construction about {percentile:g} % of new images from the training distribution fall below "
        "this line: a stricter-looking threshold is not a stricter test, so judge the flagged share "
        "against the percentile, and look at the pairs.",
        "call evaluation.memorisation(fakes, train.images, test.images, <their three feature arrays>, "
        f"percentile={percentile:g}) and read ['pixel']['possible_copies_fraction'].",
    )


def check_fd_sample_size(fd_small: float, fd_all: float, extractor, train, fakes, n_small: int = 20) -> bool:
    """Exercise 2: FD of the first ``n_small`` generated images and of all of them, in the kit's features."""
    import math

    from medgan_helpers import evaluation

    real_features = extractor(_images(train))
    want_small = evaluation.frechet_distance(real_features, extractor(fakes[:n_small]))
    want_all = evaluation.frechet_distance(real_features, extractor(fakes))
    try:
        got = float(fd_small), float(fd_all)
    except (TypeError, ValueError):
        return verdict(False, "", "give two numbers: the FD for the first 20 generated images, and for all.")
    ok = all(math.isclose(g, w, rel_tol=1e-3, abs_tol=1e-6) for g, w in zip(got, (want_small, want_all)))
    if not ok and all(math.isclose(g, w, rel_tol=1e-3, abs_tol=1e-6) for g, w in zip(got, (want_all, want_small))):
        return verdict(False, "", f"your two numbers are swapped: the first is for fakes[:{n_small}].")
    larger = "larger" if want_small > want_all else "smaller"
    return verdict(
        ok,
        f"FD with {n_small} generated images {want_small:.2f}, with all {len(fakes)}: {want_all:.2f} — "
        f"the same generator, a {larger} number. FD is biased by the sample size (a small sample's "
        "covariance is a poor estimate), so compare FDs only at equal numbers of images.",
        "compute both with evaluation.frechet_distance(extractor(train.images), extractor(<fakes>)), "
        f"for fakes[:{n_small}] and for fakes.",
    )


def check_truncated_diversity(ratio_plain: float, ratio_truncated: float, truncation: float, gan, train,
                              n: int = 64, seed: int = 0) -> bool:
    """Exercise 3: sample diversity / real diversity without and with ``truncation``."""
    import math

    import numpy as np

    from medgan_helpers import callbacks

    if truncation is None or not 0 < float(truncation) < 3:
        return verdict(False, "", "choose a truncation threshold between 0 and 3 (e.g. 0.5).")
    real = _images(train)
    real_diversity = callbacks.sample_diversity(real[np.random.default_rng(seed).permutation(len(real))[:n]])
    plain = callbacks.sample_diversity(gan.generate(n, seed=seed)) / real_diversity
    truncated = callbacks.sample_diversity(gan.generate(n, seed=seed, truncation=truncation)) / real_diversity
    try:
        got = float(ratio_plain), float(ratio_truncated)
    except (TypeError, ValueError):
        return verdict(False, "", "give two numbers: the diversity ratio without and with truncation.")
    if math.isclose(got[1], plain, rel_tol=1e-4):
        return verdict(False, "", "your second number is the untruncated one: pass truncation=... to gan.generate.")
    ok = math.isclose(got[0], plain, rel_tol=1e-4) and math.isclose(got[1], truncated, rel_tol=1e-4)
    return verdict(
        ok,
        f"diversity ratio {plain:.2f} without truncation, {truncated:.2f} with truncation {float(truncation):g}: "
        f"the export would keep {truncated / plain:.0%} of its variety. A synthetic dataset made with "
        "truncation looks cleaner and covers less of your data: say so in its data card.",
        f"take {n} generated images (gan.generate({n}, seed={seed}) and with truncation=...) and "
        f"{n} real ones (the first {n} of a permutation with np.random.default_rng({seed})); the ratio is "
        "callbacks.sample_diversity(fake) / callbacks.sample_diversity(real).",
    )
