"""Image-quality metrics for paired outputs (image-to-image translation), in NumPy / SciPy.

Every function takes float images N×H×W×C in [-1, 1] (outputs and their targets,
paired by index) unless said otherwise:

- :func:`psnr` — peak signal-to-noise ratio per image, ``10 log10(range² / MSE)``
  with range 2 (the [-1, 1] scale); the same number as ``tf.image.psnr(.., max_val=2)``.
- :func:`ssim` — structural similarity per image: 11×11 Gaussian window (σ = 1.5),
  ``k1 = 0.01``, ``k2 = 0.03``, "valid" windows only, as ``tf.image.ssim``.
- :func:`high_pass` — the fine detail of an image: the image minus its Gaussian
  blur (σ = 1.5 px). That keeps half of the amplitude at 1/8 cycle per pixel — the
  Nyquist limit of an image 4× smaller, i.e. the detail a 4× super-resolution must
  add — more above it and little below; being local, it shows *where* detail is.
- :func:`sharpness` — high-frequency energy of the outputs relative to the targets
  (1 = as much fine detail as the real images; blur gives < 1, noise > 1).
- :func:`invented_detail` — fine-detail energy the outputs have *beyond* what the
  targets have at the same place (compared over small neighbourhoods), relative to
  the targets' fine-detail energy: detail that is in the output but not in the
  patient. Blur and bicubic score ~0: they lose detail, they do not invent it.
- :func:`compare` — all of it (plus FD in the kit's feature space) for several methods.

Tested against TensorFlow's implementations in ``tests/test_pix2pix_metrics.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The value range of the kit's images ([-1, 1]).
DATA_RANGE = 2.0
#: Blur (pixels) removed by the high-pass: its response is 1/2 at 1/8 cycle per pixel
#: (sigma = sqrt(ln 2 / 2) / (pi f)), the Nyquist frequency of a 4× smaller image.
HIGH_PASS_SIGMA = 1.5
#: Neighbourhood (Gaussian sigma, pixels) over which detail energy is compared place by place.
INVENTED_WINDOW = 2.0


def _pair(outputs: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(outputs, np.float64), np.asarray(targets, np.float64)
    if a.ndim == 3:
        a, b = a[None], b[None]
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"outputs {a.shape} and targets {b.shape} must be paired N×H×W×C arrays of one shape.")
    return a, b


def psnr(outputs: Any, targets: Any, data_range: float = DATA_RANGE) -> np.ndarray:
    """PSNR (dB) of every image: ``10 log10(data_range² / mean squared error)``; inf when identical."""
    a, b = _pair(outputs, targets)
    mse = np.mean((a - b) ** 2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse)


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(coords**2) / (2.0 * sigma**2))
    return g / g.sum()


def _local_mean(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Gaussian-weighted mean over every fully-inside window (the 'valid' part), per image and channel."""
    from scipy import ndimage

    half = len(window) // 2
    out = ndimage.correlate1d(x, window, axis=1, mode="constant")
    out = ndimage.correlate1d(out, window, axis=2, mode="constant")
    return out[:, half : x.shape[1] - half, half : x.shape[2] - half, :]


def ssim(outputs: Any, targets: Any, data_range: float = DATA_RANGE, filter_size: int = 11,
         filter_sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> np.ndarray:
    """SSIM of every image (mean of the SSIM map over valid windows, then over channels)."""
    a, b = _pair(outputs, targets)
    if min(a.shape[1:3]) < filter_size:
        raise ValueError(f"images of {a.shape[1]}×{a.shape[2]} px are smaller than the SSIM window ({filter_size}).")
    window = _gaussian_window(filter_size, filter_sigma)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_a, mu_b = _local_mean(a, window), _local_mean(b, window)
    luminance = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
    cross = _local_mean(a * b, window) - mu_a * mu_b
    spread = _local_mean(a * a + b * b, window) - mu_a**2 - mu_b**2
    structure = (2 * cross + c2) / (spread + c2)
    return (luminance * structure).mean(axis=(1, 2)).mean(axis=-1)


def high_pass(images: Any, sigma: float = HIGH_PASS_SIGMA) -> np.ndarray:
    """The fine detail of ``images`` (N×H×W×C): each image minus its Gaussian blur of ``sigma`` pixels."""
    from scipy import ndimage

    x = np.asarray(images, np.float64)
    if x.ndim == 3:
        x = x[None]
    return x - ndimage.gaussian_filter(x, (0, sigma, sigma, 0), mode="reflect")


def high_frequency_energy(images: Any, sigma: float = HIGH_PASS_SIGMA) -> np.ndarray:
    """Mean squared fine detail (:func:`high_pass`) of every image."""
    return np.mean(high_pass(images, sigma) ** 2, axis=(1, 2, 3))


def sharpness(outputs: Any, targets: Any, sigma: float = HIGH_PASS_SIGMA) -> float:
    """High-frequency energy of all outputs / that of their targets (1 = as sharp as the real images)."""
    a, b = _pair(outputs, targets)
    return float(high_frequency_energy(a, sigma).sum() / max(high_frequency_energy(b, sigma).sum(), 1e-12))


def local_detail_energy(images: Any, sigma: float = HIGH_PASS_SIGMA, window: float = INVENTED_WINDOW) -> np.ndarray:
    """How much fine detail there is around every pixel: the squared high-pass, averaged over
    a Gaussian neighbourhood of ``window`` pixels (N×H×W×C)."""
    from scipy import ndimage

    return ndimage.gaussian_filter(high_pass(images, sigma) ** 2, (0, window, window, 0), mode="reflect")


def invented_detail(outputs: Any, targets: Any, sigma: float = HIGH_PASS_SIGMA, window: float = INVENTED_WINDOW,
                    per_image: bool = False) -> float | np.ndarray:
    """Fine-detail energy in the outputs that the targets do not have there, relative to the targets' own.

    Place by place (:func:`local_detail_energy`), only the output's detail energy *beyond*
    the target's counts: texture where the target is smooth, edges where it has none, or
    stronger than they are. Blur and bicubic upsampling lose detail but invent none (≈ 0);
    a copy of the target gives 0. Returns the sum over the set of that excess over the sum
    of the targets' detail energy; ``per_image=True`` gives one ratio per image.
    """
    a, b = _pair(outputs, targets)
    excess = np.maximum(local_detail_energy(a, sigma, window) - local_detail_energy(b, sigma, window), 0.0)
    truth = local_detail_energy(b, sigma, window).sum(axis=(1, 2, 3))
    if per_image:
        return excess.sum(axis=(1, 2, 3)) / np.maximum(truth, 1e-12)
    return float(excess.sum() / max(truth.sum(), 1e-12))


def invented_detail_map(output: Any, target: Any, sigma: float = HIGH_PASS_SIGMA,
                        window: float = INVENTED_WINDOW) -> np.ndarray:
    """Where the invented detail is, for one image (H×W): the output's local detail energy beyond
    the target's (see :func:`invented_detail`), as an amplitude (square root), summed over channels."""
    a, b = _pair(output, target)
    excess = np.maximum(local_detail_energy(a, sigma, window) - local_detail_energy(b, sigma, window), 0.0)
    return np.sqrt(excess[0].sum(axis=-1))


def compare(outputs: dict[str, Any], targets: Any, extractor: Any = None,
            sigma: float = HIGH_PASS_SIGMA) -> dict[str, dict[str, float]]:
    """PSNR, SSIM (means), FD (with a feature ``extractor``), sharpness and invented detail per method.

    ``outputs`` maps a method name to its outputs for ``targets`` (same order).
    FD compares the outputs' feature distribution with the targets' in the kit's
    feature space (``evaluation.feature_extractor`` on the real train split).
    """
    from medgan_helpers.evaluation.metrics import frechet_distance

    targets = np.asarray(targets, np.float32)
    real_features = extractor(targets) if extractor is not None else None
    table = {}
    for name, out in outputs.items():
        out = np.asarray(out, np.float32)
        row = {"psnr": float(np.mean(psnr(out, targets))), "ssim": float(np.mean(ssim(out, targets))),
               "sharpness": sharpness(out, targets, sigma), "invented": invented_detail(out, targets, sigma)}
        if extractor is not None:
            row["fd"] = frechet_distance(extractor(out), real_features)
        table[name] = row
    return table


def format_table(table: dict[str, dict[str, float]], title: str = "") -> str:
    """A plain-text table of :func:`compare`'s results (↑ higher is better, ↓ lower)."""
    columns = [("psnr", "PSNR dB ↑", "{:.2f}"), ("ssim", "SSIM ↑", "{:.3f}"), ("fd", "FD ↓", "{:.2f}"),
               ("sharpness", "sharpness (1 = real)", "{:.2f}"), ("invented", "invented detail ↓", "{:.3f}")]
    columns = [c for c in columns if any(c[0] in row for row in table.values())]
    width = max([len(n) for n in table] + [8])
    lines = ([title] if title else []) + ["method".ljust(width) + "".join(h.rjust(22) for _, h, _ in columns)]
    for name, row in table.items():
        lines.append(name.ljust(width) + "".join(
            (fmt.format(row[key]) if key in row else "—").rjust(22) for key, _, fmt in columns))
    return "\n".join(lines)
