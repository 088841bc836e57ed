"""Honest evaluation of generated medical images: fidelity, diversity, memorisation, utility.

Everything is measured without ImageNet weights. The feature space is the
penultimate layer of a small classifier trained on the *real train split* of the
dataset (cached per dataset and size, frozen before any GAN is scored). In it:

- **Fidelity** — Fréchet distance (FD), KID (unbiased, mean ± std over subsets) and
  precision / recall (Kynkäänniemi et al. 2019) and density / coverage (Naeem et
  al. 2020, k = 5), each for the
  generated images vs the real train split and vs the real test split. Every
  number comes with two references for scale: a *noise floor* (two disjoint
  halves of the real train split) and *real test vs real train*. The test split
  is a shifted distribution (other slice positions / patients), so a generator
  that fits the train split well can score *below* test-vs-train on FD-to-train.
- **Diversity** — MS-SSIM (3 scales, filter 7, works from 28 px) between random
  pairs of generated images vs pairs of real images, per class when conditional.
- **Memorisation** — for every generated image the nearest real train image, in
  pixel space and in feature space; the fraction closer than the 1st percentile
  of the leave-one-out distances of train images to the rest of train is
  reported as "possible copies" (the test-split threshold is a second number).
- **Utility** — the same small classifier trained on synthetic only (TSTR), real
  only (TRTR) and real + synthetic, tested on the real test split: accuracy,
  balanced accuracy, macro one-vs-rest AUC, mean ± std over seeds.
- **Realism** (``realism``) — where the eye looks, because the feature space above
  belongs to a classifier trained to name the slice level and hardly sees texture or
  contrast: a classifier two-sample test (a fresh CNN, real vs generated, held-out
  accuracy against its real-vs-real floor), the radially averaged power spectrum
  with a high-frequency energy ratio, and the intensity distribution inside the body,
  each with a floor from two halves of the real train split.

Entry points: :func:`evaluate` (arrays or ``ImageSet``s → :class:`EvaluationReport`),
:func:`evaluate_run` (a saved run or any sampler → report files in the run
folder) and the command line ``python -m medgan_helpers.evaluation RUN_DIR``.
Sample sizes, classifier epochs and the groups switched on are one
:class:`EvalOptions` (``options.py``): full values by default,
``EvalOptions.quick()`` for the small ones the tests use.

Modules: ``features`` (the frozen feature space), ``metrics`` (the maths),
``scores`` (the four groups of numbers), ``realism`` (texture, spectrum, intensity), ``report`` (tables, pictures, JSON),
``options`` (:class:`EvalOptions`), ``on_runs`` (run folders and the command line); this module, ``suite``, runs them in order.
No metric replaces a radiologist looking at the images.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from medgan_helpers.evaluation import features, metrics
from medgan_helpers.evaluation import realism as realism_measures
from medgan_helpers.evaluation.features import FeatureExtractor
from medgan_helpers.evaluation.metrics import MIN_SAMPLES
from medgan_helpers.evaluation.options import EvalOptions, resolve
from medgan_helpers.evaluation.report import EvaluationReport
from medgan_helpers.evaluation.scores import (
    _check_labels,
    _unpack,
    balanced_subset,
    check_images,
    diversity,
    fidelity,
    memorisation,
    utility_scores,
)

#: Below this many images in a split, the report warns that the numbers are noisy.
SMALL_SAMPLE = 200


# ============================================================================ feature space
def feature_extractor(
    real_train: Any,
    kind: str = "classifier",
    dataset_name: str | None = None,
    epochs: int = EvalOptions.feature_epochs,
    cache: bool = True,
    seed: int = 0,
    verbose: bool = True,
) -> FeatureExtractor:
    """The frozen feature extractor for ``real_train`` (an ImageSet or images array).

    ``kind="classifier"`` (default) trains — once, then loads from
    ``config.cache_dir()/feature_extractors`` — the kit's small CNN on the real train
    split. ``kind="inception"`` uses InceptionV3 only if its weights already exist
    locally, labelled "not comparable with published FID".
    """
    images, labels, info = _unpack(real_train, "real_train")
    if kind == "inception":
        return features.inception_feature_extractor(images.shape[1], images.shape[3])
    if kind != "classifier":
        raise ValueError(f"feature extractor kind must be 'classifier' or 'inception', got {kind!r}.")
    name = dataset_name or info["name"] or "array"
    return features.classifier_feature_extractor(
        images, labels, name, epochs=epochs, cache=cache, seed=seed, verbose=verbose
    )


# ============================================================================ evaluate
def evaluate(
    real_train: Any,
    real_test: Any,
    fake_images: Any,
    fake_labels: Any = None,
    options: EvalOptions | None = None,
    *,
    train_labels: Any = None,
    test_labels: Any = None,
    class_names: list[str] | None = None,
    extractor: FeatureExtractor | None = None,
    dataset_name: str | None = None,
    **overrides: Any,
) -> EvaluationReport:
    """Score generated images against the real train and test splits.

    Args:
        real_train, real_test: ``data.ImageSet`` objects, ``(images, labels)`` pairs or float32
            arrays N×H×W×C in [-1, 1] (then labels via ``train_labels`` / ``test_labels``).
        fake_images: generated images, same H×W×C, in [-1, 1].
        fake_labels: class label of each generated image (needed for utility and
            per-class diversity).
        options: an :class:`EvalOptions` — which groups run, sample sizes, classifier
            epochs and seeds, ``seed``, ``verbose`` (default: the full values;
            ``EvalOptions.quick()`` for a quick look).
        extractor: a ready feature extractor (default: the cached classifier of
            ``dataset_name``, trained on ``real_train`` when missing).
        dataset_name: names the cached feature classifier and the report.
        **overrides: single option fields laid over ``options`` (``kid_subsets=5``);
            an unknown name raises ``TypeError`` listing the fields.

    Returns:
        An :class:`EvaluationReport` (``.table()``, ``.to_json()``, ``.plots()``,
        ``.save_summary_png()``).
    """
    opt = resolve(options, overrides, "evaluate()")
    t0 = time.time()
    train_x, train_y, train_info = _unpack(real_train, "real_train")
    test_x, test_y, _ = _unpack(real_test, "real_test")
    fake_x = check_images(fake_images, "fake_images")
    if not (train_x.shape[1:] == test_x.shape[1:] == fake_x.shape[1:]):
        raise ValueError(
            "real_train, real_test and fake_images must have the same image shape H×W×C, got "
            f"{train_x.shape[1:]}, {test_x.shape[1:]} and {fake_x.shape[1:]}. Load the real data at "
            "the generator's image_size (data.load_dataset(..., image_size=G.image_size))."
        )
    # sample-count checks up front, with the number needed
    metrics.require_samples(len(fake_x), "prdc", "fake_images", needed=max(opt.k + 1, MIN_SAMPLES["frechet_distance"]))
    metrics.require_samples(len(test_x), "prdc", "real_test", needed=max(opt.k + 1, MIN_SAMPLES["frechet_distance"]))
    needed_train = 2 * max(opt.k + 1, MIN_SAMPLES["frechet_distance"])
    if len(train_x) < needed_train:
        raise ValueError(
            f"real_train has {len(train_x)} images, but the evaluation needs at least {needed_train} "
            "(the noise floor splits it into two halves of ≥ 10). Pass more real images."
        )
    if train_labels is not None:
        train_y = np.asarray(train_labels)
    if test_labels is not None:
        test_y = np.asarray(test_labels)
    multilabel = train_y is not None and train_y.ndim == 2 and train_y.shape[1] > 1
    class_names = class_names or train_info["class_names"]
    num_classes = None
    if train_y is not None and not multilabel:
        train_y = _check_labels(train_y, len(train_x), "real_train labels")
        num_classes = len(class_names) if class_names else int(train_y.max()) + 1
        if test_y is not None:
            test_y = _check_labels(test_y, len(test_x), "real_test labels", num_classes)
    if fake_labels is not None:
        fake_labels = _check_labels(fake_labels, len(fake_x), "fake_labels", num_classes)
    extractor_labels = train_y  # multi-hot labels train a multi-label feature classifier
    labels_ok = fake_labels is not None and train_y is not None and test_y is not None and not multilabel
    if opt.utility is True and not labels_ok:
        missing = "fake_labels" if fake_labels is None else ("real labels" if not multilabel else "single labels")
        raise ValueError(
            f"utility=True (TSTR/TRTR) needs class labels, but {missing} are missing. Pass fake_labels=... "
            "(generate with a conditional GAN) and labelled real splits, or use utility=False."
        )

    rng = np.random.default_rng(opt.seed)
    if opt.max_real is not None:
        if len(train_x) > opt.max_real:
            keep = np.sort(rng.choice(len(train_x), opt.max_real, replace=False))
            train_x, train_y = train_x[keep], None if train_y is None else train_y[keep]
            extractor_labels = None if extractor_labels is None else extractor_labels[keep]
        if len(test_x) > opt.max_real:
            keep = np.sort(rng.choice(len(test_x), opt.max_real, replace=False))
            test_x, test_y = test_x[keep], None if test_y is None else test_y[keep]

    timings: dict[str, float] = {}
    clock = [time.time(), None]

    def say(msg: str, step: str | None = None) -> None:
        now = time.time()
        if clock[1] is not None:
            timings[clock[1]] = round(now - clock[0], 1)
        clock[0], clock[1] = now, step
        if opt.verbose and msg:
            print(msg, flush=True)

    # 1. feature space: trained on the real train split, frozen before the fakes are seen
    if extractor is None:
        if opt.feature_extractor_kind == "inception":
            extractor = features.inception_feature_extractor(train_x.shape[1], train_x.shape[3])
        else:
            name = dataset_name or train_info["name"] or "array"
            extractor = features.classifier_feature_extractor(
                train_x, extractor_labels, name, epochs=opt.feature_epochs, verbose=opt.verbose
            )
    say("Extracting features …", "features")
    f_train, f_test, f_fake = extractor(train_x), extractor(test_x), extractor(fake_x)

    # 2. fidelity + the two reference rows
    say("Fidelity: FD, KID, precision/recall/density/coverage …", "fidelity")
    n_kid = opt.kid_subsets
    fid: dict[str, Any] = {}
    fid["fake_vs_train"] = fidelity(f_train, f_fake, opt.k, n_kid, seed=opt.seed)
    fid["fake_vs_test"] = fidelity(f_test, f_fake, opt.k, n_kid, seed=opt.seed)
    if opt.references:
        perm = rng.permutation(len(f_train))
        half = len(perm) // 2
        fid["floor_train_halves"] = fidelity(
            f_train[perm[:half]], f_train[perm[half : 2 * half]], opt.k, n_kid, seed=opt.seed
        )
        fid["test_vs_train"] = fidelity(f_train, f_test, opt.k, n_kid, seed=opt.seed)

    # 3. diversity
    say("Diversity: MS-SSIM …", "diversity")
    n_pairs = opt.diversity_pairs
    div, div_raw = diversity(fake_x, train_x, fake_labels, train_y if not multilabel else None,
                             class_names, n_pairs=n_pairs, seed=opt.seed)

    # 4. memorisation
    say("Memorisation: nearest training images …", "memorisation")
    mem, mem_raw = memorisation(fake_x, train_x, test_x, f_fake, f_train, f_test, seed=opt.seed)

    # 5. utility
    util: dict[str, Any] | None
    if opt.utility and labels_ok:
        say(f"Utility: {', '.join(opt.utility_settings)} classifiers over {len(opt.utility_seeds)} seeds …", "utility")
        util = utility_scores(fake_x, fake_labels, train_x, train_y, test_x, test_y, num_classes,
                                    seeds=opt.utility_seeds, epochs=opt.utility_epochs,
                                    settings=opt.utility_settings)
    else:
        reason = ("switched off" if opt.utility is False
                  else "multi-label data" if multilabel
                  else "no labels for the generated images (pass fake_labels=...)" if fake_labels is None
                  else "the real splits have no labels")
        util = {"skipped": reason}

    # 6. realism where the eye looks: a fresh CNN, the spectrum, the intensities
    real_raw: dict[str, Any] = {}
    too_few = len(fake_x) < realism_measures.MIN_TWO_SAMPLE or len(train_x) < 2 * realism_measures.MIN_TWO_SAMPLE
    if opt.realism and too_few:
        real = {"skipped": f"too few images for the two-sample test (it needs {realism_measures.MIN_TWO_SAMPLE} "
                           f"generated and {2 * realism_measures.MIN_TWO_SAMPLE} real train images)"}
    elif opt.realism:
        say(f"Realism: two-sample CNN over {len(opt.realism_seeds)} seeds, spectrum, intensity …", "realism")
        real, real_raw = realism_measures.realism(fake_x, train_x, opt.realism_seeds, opt.realism_epochs,
                                                  opt.realism_images, opt.realism_image_size, seed=opt.seed)
        real_raw.update(_most_fake_beside_real(real, fake_x, fake_labels, train_x, train_y, opt.seed))
    else:
        real = {"skipped": "switched off"}

    # 7. pictures' data: the split may be stored sorted by class, so a random class-balanced
    # subset of each set (not the first 1,000, which may be one or two classes) is projected
    def scatter_pick(labels: Any, count: int) -> np.ndarray:
        plain = labels is None or np.ndim(labels) != 1
        return balanced_subset(None if plain else labels, 1000, seed=opt.seed, count=count)

    pca_train, pca_test, pca_fake = metrics.pca_2d(
        f_train[scatter_pick(train_y, len(f_train))], f_test[scatter_pick(test_y, len(f_test))],
        f_fake[scatter_pick(fake_labels, len(f_fake))],
    )
    results = {
        "meta": {
            "dataset": dataset_name or train_info["name"] or "arrays",
            "image_size": int(train_x.shape[1]),
            "channels": int(train_x.shape[3]),
            "n_train": int(len(train_x)),
            "n_test": int(len(test_x)),
            "n_fake": int(len(fake_x)),
            "conditional": fake_labels is not None,
            "class_names": class_names,
            "feature_extractor": extractor.name,
            "feature_extractor_info": {key: v for key, v in extractor.info.items() if key != "feature_shift"},
            "feature_dim": int(f_train.shape[1]),
            "comparable_with_published_fid": False,
            "k": opt.k,
            "seed": opt.seed,
            "seconds": None,
        },
        "fidelity": fid,
        "diversity": div,
        "memorisation": mem,
        "utility": util,
        "realism": real,
    }
    results["notes"] = reading_notes(results)
    say("", None)
    results["meta"]["seconds"] = round(time.time() - t0, 1)
    results["meta"]["timings"] = timings
    plot = {"pca_train": pca_train, "pca_test": pca_test, "pca_fake": pca_fake, **div_raw, **mem_raw, **real_raw}
    say(f"Evaluation done in {results['meta']['seconds']} s.")
    return EvaluationReport(results, plot)


def _most_fake_beside_real(real: dict, fake_x: np.ndarray, fake_labels: Any, train_x: np.ndarray,
                           train_y: Any, seed: int) -> dict[str, np.ndarray]:
    """The generated images the two-sample CNN is surest are fake, and a random real train image
    of the same class beside each (any class when there are no labels)."""
    rng = np.random.default_rng(seed + 7)
    index = np.array([m["generated_index"] for m in real["classifier"]["most_fake"]], dtype=int)
    partners = []
    for i in index:
        same = (np.flatnonzero(train_y == fake_labels[i])
                if fake_labels is not None and train_y is not None and np.ndim(train_y) == 1 else [])
        partners.append(rng.choice(same) if len(same) else rng.integers(len(train_x)))
    return {"most_fake": fake_x[index], "most_fake_real": train_x[np.asarray(partners, dtype=int)],
            "most_fake_p": np.array([m["p_fake"] for m in real["classifier"]["most_fake"]])}


def reading_notes(results: dict) -> list[str]:
    """Plain sentences for numbers that are easy to misread: small samples, negative KID, floors."""
    meta, fid = results["meta"], results["fidelity"]
    notes = []
    small = {name: meta[key] for name, key in (("real train", "n_train"), ("real test", "n_test"),
                                                  ("generated", "n_fake")) if meta[key] < SMALL_SAMPLE}
    if small:
        which = ", ".join(f"{name} {n}" for name, n in small.items())
        notes.append(
            f"Small samples ({which} images; fewer than {SMALL_SAMPLE}): FD, KID, precision/recall/"
            "coverage and the copy fraction are noisy. Compare them only with the reference rows, "
            "which were computed at the same sizes, and prefer more images when you can.")
    labels = {"fake_vs_train": "generated vs train", "fake_vs_test": "generated vs test",
              "floor_train_halves": "the noise floor", "test_vs_train": "test vs train"}
    for key, label in labels.items():
        value = (fid.get(key) or {}).get("kid")
        if value is not None and value < 0:
            notes.append(
                f"KID of {label} is negative ({value * 1000:.2f}×10⁻³): KID is an unbiased estimate, so "
                "for two samples of (nearly) one distribution it scatters around 0 and can fall below "
                "it. Read it as 'no difference measurable at this sample size', not as better than 0.")
    floor = (fid.get("floor_train_halves") or {}).get("fd")
    fd = (fid.get("fake_vs_train") or {}).get("fd")
    if floor is not None and fd is not None and fd < floor:
        notes.append(
            f"FD to train ({fd:.2f}) is below the noise floor ({floor:.2f}). The floor compares two "
            "halves of train, each half the size, and FD grows as samples shrink; a value under the "
            "floor means 'as close to train as another train sample' in this feature space, not "
            "'better than real'.")
    return notes
