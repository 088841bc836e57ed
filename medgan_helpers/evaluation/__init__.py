"""Honest evaluation of generated medical images: fidelity, diversity, memorisation, utility.

See ``evaluation.evaluate`` (the module) for what is measured and how. The public names:

- :func:`evaluate` (arrays or ``ImageSet``s → :class:`EvaluationReport`), its options
  :class:`EvalOptions` (``EvalOptions.quick()``) and :func:`settings` (their sizes as a dict)
- :func:`evaluate_run`, :func:`output_dir_for` (run folders; ``python -m medgan_helpers.evaluation``)
- :func:`feature_extractor`, :class:`FeatureExtractor`, :func:`build_classifier`, :func:`fit_classifier`
- the groups :func:`fidelity`, :func:`diversity`, :func:`memorisation`, :func:`utility_scores`
- realism where the eye looks, in ``realism``: :func:`classifier_two_sample_test`,
  :func:`radial_power_spectrum`, :func:`high_frequency_ratio`, :func:`intensity_quantile_distance`,
  :func:`body_mask`; :func:`balanced_subset` for class-balanced random subsets
- paired outputs (image-to-image translation, notebook 08), in ``image_quality``:
  :func:`psnr`, :func:`ssim`, :func:`sharpness`, :func:`invented_detail`, :func:`high_pass`
- the maths: :func:`frechet_distance`, :func:`kid`, :func:`prdc`, :func:`ms_ssim_pairs`,
  :func:`nearest_neighbours`, :func:`pairwise_distances`, AUC and accuracies, :func:`pca_2d`
"""

from __future__ import annotations

from medgan_helpers.evaluation import image_quality, realism
from medgan_helpers.evaluation.features import FeatureExtractor, build_classifier, fit_classifier
from medgan_helpers.evaluation.image_quality import (
    high_pass,
    invented_detail,
    psnr,
    sharpness,
    ssim,
)
from medgan_helpers.evaluation.metrics import (
    MIN_SAMPLES,
    accuracy,
    balanced_accuracy,
    binary_auc,
    frechet_distance,
    frechet_distance_from_stats,
    kid,
    macro_auc_ovr,
    ms_ssim_pairs,
    nearest_neighbours,
    pairwise_distances,
    pca_2d,
    prdc,
)
from medgan_helpers.evaluation.on_runs import evaluate_run, main, output_dir_for
from medgan_helpers.evaluation.options import EvalOptions, settings
from medgan_helpers.evaluation.realism import (
    body_mask,
    classifier_two_sample_test,
    high_frequency_ratio,
    intensity_quantile_distance,
    radial_power_spectrum,
)
from medgan_helpers.evaluation.report import EvaluationReport, headline_numbers
from medgan_helpers.evaluation.scores import (
    balanced_labels,
    balanced_subset,
    check_images,
    diversity,
    fidelity,
    memorisation,
    utility_scores,
)
from medgan_helpers.evaluation.suite import (
    SMALL_SAMPLE,
    evaluate,
    feature_extractor,
    reading_notes,
)

__all__ = [
    "MIN_SAMPLES",
    "SMALL_SAMPLE",
    "EvalOptions",
    "EvaluationReport",
    "FeatureExtractor",
    "accuracy",
    "balanced_accuracy",
    "balanced_labels",
    "balanced_subset",
    "body_mask",
    "classifier_two_sample_test",
    "binary_auc",
    "build_classifier",
    "check_images",
    "diversity",
    "evaluate",
    "evaluate_run",
    "feature_extractor",
    "fidelity",
    "fit_classifier",
    "frechet_distance",
    "frechet_distance_from_stats",
    "headline_numbers",
    "high_frequency_ratio",
    "high_pass",
    "image_quality",
    "intensity_quantile_distance",
    "invented_detail",
    "kid",
    "macro_auc_ovr",
    "main",
    "memorisation",
    "ms_ssim_pairs",
    "nearest_neighbours",
    "output_dir_for",
    "pairwise_distances",
    "pca_2d",
    "prdc",
    "psnr",
    "radial_power_spectrum",
    "realism",
    "reading_notes",
    "settings",
    "sharpness",
    "ssim",
    "utility_scores",
]
