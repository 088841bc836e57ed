"""Checks for the exercises of notebook 01 · Data preparation.

Every check runs the student's function or pipeline on real inputs (random HU
values, a real MR slice from pydicom's test files, a real ImageSet) and compares
with what the kit's own data layer computes. It prints a verdict and returns
``True``/``False``; a wrong answer gets a hint, never the solution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medgan_helpers.exercises._verdict import verdict


def _call(fn: Callable, *args) -> tuple[Any, str | None]:
    try:
        return fn(*args), None
    except Exception as exc:  # a student's function may fail in any way
        return None, f"your function raised {type(exc).__name__}: {exc}"


def check_window(my_window: Callable[[np.ndarray, float, float], np.ndarray]) -> bool:
    """Exercise 1: ``my_window(hu, centre, width)`` maps HU to [0, 1] like a CT window."""
    from medgan_helpers import data

    rng = np.random.default_rng(1)
    hu = rng.uniform(-1200, 2500, size=(64, 64)).astype(np.float32)
    for name in ("brain", "lung", "bone"):
        centre, width = data.CT_WINDOWS[name]
        got, error = _call(my_window, hu.copy(), centre, width)
        if error:
            return verdict(False, "", error)
        got = np.asarray(got, dtype=np.float64)
        if got.shape != hu.shape:
            return verdict(False, "", f"the output should have the input's shape {hu.shape}, not {got.shape}")
        if got.min() < -1e-6 or got.max() > 1 + 1e-6:
            return verdict(False, "", "values outside the window must be clipped to 0 (below) and 1 (above)")
        if not np.allclose(got, data.window(hu, centre, width), atol=1e-4):
            return verdict(
                False,
                "",
                f"for the {name} window (C={centre:g}, W={width:g}) the lowest shown HU is "
                "C - W/2 (-> 0) and the highest C + W/2 (-> 1); scale linearly in between",
            )
    return verdict(True, "brain, lung and bone windows all match the kit's data.window.", "")


def check_percentile_clip(my_clip: Callable[[np.ndarray], np.ndarray]) -> bool:
    """Exercise 2: ``my_clip(mr)`` clips to the 0.5 / 99.5 percentiles and scales to [0, 1]."""
    import pydicom
    from pydicom.data import get_testdata_file

    from medgan_helpers import data

    mr = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array.astype(np.float32)
    mr[3, 3] = mr.max() * 20  # a single hot pixel, as an artefact would make
    got, error = _call(my_clip, mr.copy())
    if error:
        return verdict(False, "", error)
    got = np.asarray(got, dtype=np.float64)
    want = data.percentile_clip(mr, 0.5, 99.5)
    if got.shape != mr.shape:
        return verdict(False, "", f"the output should have shape {mr.shape}")
    if np.allclose(got, (mr - mr.min()) / (mr.max() - mr.min()), atol=1e-3):
        return verdict(False, "", "that is min-max scaling: the hot pixel squashes all tissue into near-black. Use np.percentile")
    if not np.allclose(got, want, atol=2e-3):
        return verdict(False, "", "use lo, hi = np.percentile(x, [0.5, 99.5]), then clip((x - lo) / (hi - lo), 0, 1)")
    return verdict(True, "the hot pixel no longer decides the contrast.", "")


def check_to_model_range(my_scale: Callable[[np.ndarray], np.ndarray]) -> bool:
    """Exercise 3: ``my_scale(pixels)`` turns uint8 0..255 into float32 in [-1, 1]."""
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    got, error = _call(my_scale, pixels.copy())
    if error:
        return verdict(False, "", error)
    got = np.asarray(got)
    if got.dtype != np.float32:
        return verdict(False, "", f"return float32 (the GAN computes in float32), not {got.dtype}")
    if not np.allclose(got, pixels.astype(np.float32) / 127.5 - 1.0, atol=1e-6):
        if np.allclose(got, pixels / 255.0, atol=1e-6):
            return verdict(False, "", "that is [0, 1]; the generator ends in tanh, whose range is [-1, 1]")
        return verdict(False, "", "0 must become -1 and 255 must become +1, linearly in between")
    return verdict(True, "0 -> -1 and 255 -> +1, the range of the generator's tanh.", "")


def _image_keys(images: Any) -> set[bytes]:
    """One exact key per image: its uint8 pixels (float [-1, 1] batches are mapped back first)."""
    array = np.asarray(images)
    if array.dtype != np.uint8:
        array = np.rint((array.astype(np.float64) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    return {image.tobytes() for image in array}


def check_pipeline(tfds: Any, splits: Any, batch_size: int = 32, split: str = "val") -> bool:
    """Exercise 4: a tf.data pipeline of the ``split`` split giving image-only batches of ``batch_size``.

    ``splits`` is the notebook's dict of ImageSets (or the one ImageSet the pipeline must
    come from). Every image of the first batch must be an image of that split: a pipeline
    of another split has the right shapes and range, but trains on the wrong images.
    """
    import tensorflow as tf

    imageset = splits[split] if isinstance(splits, dict) else splits
    if not isinstance(tfds, tf.data.Dataset):
        return verdict(False, "", "build it with data.to_tf_dataset(...), which returns a tf.data.Dataset")
    first = next(iter(tfds))
    if isinstance(first, tuple):
        return verdict(False, "", "the batches still carry labels: pass include_labels=False")
    shape = tuple(first.shape)
    want = (batch_size, imageset.image_size, imageset.image_size, imageset.channels)
    if shape != want:
        return verdict(False, "", f"a batch should have shape {want}, yours is {shape}: check batch_size")
    lo, hi = float(tf.reduce_min(first)), float(tf.reduce_max(first))
    if lo < -1.0 - 1e-6 or hi > 1.0 + 1e-6 or first.dtype != tf.float32:
        return verdict(False, "", "the images should be float32 in [-1, 1]")
    foreign = _image_keys(first.numpy()) - _image_keys(imageset.pixels)
    if foreign:
        others = [name for name, other in splits.items() if name != split
                  and not foreign - _image_keys(other.pixels)] if isinstance(splits, dict) else []
        source = f"the {others[0]!r} split" if others else "another set of images"
        return verdict(False, "", f"{len(foreign)} of the {batch_size} images of your first batch are not in "
                       f"the {split!r} split: the pipeline reads {source}. Pass splits[{split!r}].")
    return verdict(True, f"batches of {batch_size} float32 images in [-1, 1] from the {split!r} split, "
                   "no labels.", "")


def _soft_tissue_ct() -> np.ndarray:
    """pydicom's real CT test slice (128 x 128) in the soft-tissue window, float32 in [0, 1]."""
    import pydicom
    from pydicom.data import get_testdata_file

    from medgan_helpers import data

    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = ct.pixel_array.astype(np.float32) * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    return data.window(hu, *data.CT_WINDOWS["soft-tissue"]).astype(np.float32)


def downsampling_scores(my_downsample: Callable[[np.ndarray, int], np.ndarray], factor: int = 4) -> dict:
    """Measure a downsampling function: the aliasing it lets through and its distance to the kit's resize.

    - ``aliasing``: standard deviation of the output for a grating of vertical
      stripes 3 pixels apart (0 to 1), finer than an image ``factor`` times smaller
      can show. Every bit of pattern left is false (aliased) pattern.
    - ``aliasing_subsampling``: the same for keeping every ``factor``-th pixel.
    - ``difference_to_kit``: mean absolute difference, on a real CT slice, to the
      kit's anti-aliased resize (``data.pad_to_square_and_resize``, LANCZOS).
    """
    from medgan_helpers import data

    n = 128
    grating = np.repeat((0.5 + 0.5 * np.cos(2 * np.pi * np.arange(n) / 3.0))[None, :], n, axis=0)
    ct = _soft_tissue_ct()
    scores = {"aliasing_subsampling": float(grating[::factor, ::factor].std())}
    kit = data.pad_to_square_and_resize(np.rint(ct * 255).astype(np.uint8), n // factor) / 255.0
    for name, image in (("grating", grating.astype(np.float32)), ("ct", ct)):
        out = np.asarray(my_downsample(image.copy(), factor), dtype=np.float64)
        if out.shape != (n // factor, n // factor):
            raise ValueError(f"for a {n}x{n} image and factor {factor} the result should be "
                             f"{n // factor}x{n // factor}, not {'x'.join(map(str, out.shape))}")
        if name == "grating":
            scores["aliasing"] = float(out.std())
        else:
            scores["difference_to_kit"] = float(np.abs(out - kit).mean())
            scores["mean_change"] = float(abs(out.mean() - image.mean()))
    return scores


def check_downsample(my_downsample: Callable[[np.ndarray, int], np.ndarray]) -> bool:
    """Exercise 3: ``my_downsample(image, factor)`` shrinks an image ``factor`` times without aliasing."""
    try:
        scores = downsampling_scores(my_downsample)
    except Exception as error:  # a student's function may fail in any way
        return verdict(False, "", f"{type(error).__name__}: {error}")
    measured = (f"false pattern left from the grating: {scores['aliasing']:.3f} (every 4th pixel: "
                f"{scores['aliasing_subsampling']:.3f}); mean difference to the kit's resize on the CT "
                f"slice: {scores['difference_to_kit']:.3f}")
    if scores["mean_change"] > 0.02:
        return verdict(False, "", f"{measured}. The image's mean brightness changed by "
                       f"{scores['mean_change']:.3f}: average the pixels, do not sum them.")
    if scores["aliasing"] > 0.5 * scores["aliasing_subsampling"]:
        return verdict(False, "", f"{measured}. Keeping single pixels lets fine stripes through as a "
                       "false, coarser pattern. Let every output pixel be the average of the factor x factor "
                       "block of input pixels it covers.")
    if scores["difference_to_kit"] > 0.03:
        return verdict(False, "", f"{measured}. The grating is suppressed, but the CT slice ends up far "
                       "from the kit's resize: does every output pixel cover its own block of the input?")
    return verdict(True, f"{measured}. Averaging blocks removes most of the false pattern; the kit's "
                   "LANCZOS filter removes even more.", "")
