# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Data preparation for medical GANs
#
# <!-- colab-badge -->
#
# A GAN learns whatever its training images show — including their mistakes. This
# notebook prepares the images every later notebook trains on: we look at where
# they come from and under which licence, at their raw intensities, at how CT and
# MR intensities are normalised (windowing versus percentile clipping, on real
# DICOM files), at resizing, class balance and the load report, and finally at the
# `tf.data` pipeline that feeds the GAN.
#
# **Learning goals**
#
# - name the source, licence and limits of a dataset from its *dataset card*;
# - explain why CT is *windowed* (Hounsfield units are absolute) while MR is
#   *percentile-clipped* (its units are arbitrary);
# - resize without aliasing and without distorting the anatomy;
# - read a load report and a class balance before training anything;
# - build a shuffled, batched, prefetched `tf.data` pipeline in [-1, 1].
#
# **Time:** about 10 minutes to run on a Colab GPU or a 2-core CPU (nothing is
# trained), plus 15 minutes of exercises.

# %%
# setup-cell

# %% [markdown]
# ## Setup imports
#
# All imports in one place, then the versions, so every result can be traced back
# to the software that made it.

# %%
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pydicom
import tensorflow as tf
from IPython.display import display
from pydicom.data import get_testdata_file

import medgan_helpers
from medgan_helpers import config, data, exercises

print("TensorFlow", tf.__version__, "| pydicom", pydicom.__version__, "| medgan_helpers", medgan_helpers.__version__)

# %% [markdown]
# ## Parameters
#
# `DATASET` can be `"brain-mri"` (built in, no download), any MedMNIST 2-D flag
# such as `"pneumoniamnist"` (downloaded once, MD5-checked), or
# `"folder:/path/to/your/scans"`. In quick mode (`MEDGAN_QUICK=1`) the images are
# smaller so that the notebook runs in seconds.

# %% tags=["parameters"]
DATASET = "brain-mri"
IMAGE_SIZE = config.quick_or(64, 32)
BATCH_SIZE = 32  # the recipe's batch size (recipe.gan_config().batch_size)
SEED = 0
CT_FILE = "CT_small.dcm"  # real CT and MR slices shipped with pydicom
MR_FILE = "MR_small.dcm"

# %% [markdown]
# ## 1 · Where the data comes from
#
# We load the three splits. The first call builds `brain-mri` from the MNI ICBM152
# template that ships inside `nilearn` (a few seconds) and caches it; later calls
# read the cache.

# %%
config.seed_everything(SEED)
splits = {s: data.load_dataset(DATASET, image_size=IMAGE_SIZE, split=s, seed=SEED) for s in data.SPLITS}
train = splits["train"]
print(train)

# %% [markdown]
# Every dataset carries a **dataset card**: its source, licence, modality, counts
# and every preprocessing step. Read it before you train: it tells you what a
# model trained on this data can and cannot claim.

# %%
display(train.card())

# %% [markdown]
# Two things on that card matter for everything that follows:
#
# - **It is one average brain.** The template is the mean of 152 registered adult
#   scans: real MRI, but smoother, more symmetric and less noisy than any single
#   patient. A GAN trained on it learns "slices of the average brain", not the
#   variety of a clinic.
# - **The licence travels with the data.** The ICBM 2009a notice must be kept in
#   every copy; MedMNIST is CC BY 4.0 (DermaMNIST: non-commercial only). Your own
#   scans need consent or a data-use agreement.

# %% [markdown]
# ## 2 · Raw intensities
#
# Before any normalisation, look at the numbers a scanner stores. Here is the raw
# template volume, in its own units (0–1), through three orthogonal planes.

# %%
from nilearn import datasets as nilearn_datasets

volume = nilearn_datasets.load_mni152_template(resolution=1).get_fdata(dtype=np.float32)
print("volume shape:", volume.shape, "| value range:", volume.min(), "to", volume.max())
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
views = {"axial": np.rot90(volume[:, :, 90]), "coronal": np.rot90(volume[:, 110, :]), "sagittal": np.rot90(volume[98, :, :])}
for ax, (name, view) in zip(axes, views.items()):
    ax.imshow(view, cmap="gray")
    ax.set_title(name)
    ax.axis("off")
plt.show()

# %% [markdown]
# The histogram of those voxels has a huge spike at 0 (the air around the head)
# and then the tissues: cerebrospinal fluid (dark), grey matter, white matter
# (bright on T1). We leave out the background to see them.

# %%
brain_voxels = volume[volume > 0.05]
plt.figure(figsize=(6, 3))
plt.hist(brain_voxels, bins=100, color="tab:blue")
plt.xlabel("template intensity (arbitrary MR units)")
plt.ylabel("voxels")
plt.title(f"{brain_voxels.size:,} brain voxels ({(volume <= 0.05).mean():.0%} of the volume is background)")
plt.show()

# %% [markdown]
# ### Real DICOM files: CT and MR
#
# `pydicom` ships small real scans for its tests. A DICOM file is pixels plus a
# header, and the header can identify a person. These test files carry a made-up
# name, which shows where real names would sit. The kit's folder loader reads the
# pixels and the display tags (modality, photometric interpretation, rescale,
# window), and a few identifying fields as well, into memory only: the
# PatientID and the study and series UIDs, to keep each patient's images in one
# split, and the patient's names, IDs, birth date and accession number, to
# refuse a class folder named after a patient. It stores none of them: after
# loading, only the pixels, the class names and opaque ids are kept. Every other
# header field (study dates, institutions, physicians, …) is not read at all.

# %%
ct = pydicom.dcmread(get_testdata_file(CT_FILE))
mr = pydicom.dcmread(get_testdata_file(MR_FILE))
print("the header has a PatientName field:", "PatientName" in ct, "(a real scan would have a real name here)")
hu = ct.pixel_array.astype(np.float32) * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
mr_raw = mr.pixel_array.astype(np.float32)
print(f"CT: stored {ct.pixel_array.dtype}, slope {ct.RescaleSlope}, intercept {ct.RescaleIntercept} -> HU {hu.min():.0f}..{hu.max():.0f}")
print(f"MR: stored {mr.pixel_array.dtype}, values {mr_raw.min():.0f}..{mr_raw.max():.0f} (arbitrary units)")
ct_spacing = ct.PixelSpacing[1]  # mm per pixel: a display tag, not an identifier
del ct, mr  # keep only the pixels, never the header

# %% [markdown]
# CT values are **Hounsfield units** (HU): air is −1000, water 0, soft tissue
# 20–80, bone several hundred and more. The same HU means the same tissue on any
# scanner. MR values have **no fixed unit**: they depend on the scanner, the coil
# and the settings, so only their relative order means something.

# %%
counts, edges = np.histogram(hu[hu < -500], bins=40)
dark_peak = (edges[counts.argmax()] + edges[counts.argmax() + 1]) / 2
fig, axes = plt.subplots(1, 3, figsize=(13, 3), gridspec_kw={"width_ratios": [2, 2, 1]})
axes[0].hist(hu.ravel(), bins=120, color="tab:orange")
axes[0].set_title("CT slice: Hounsfield units")
for x, label in [(-1000, "air"), (0, "water"), (1000, "bone")]:
    axes[0].axvline(x, color="k", lw=0.8, ls="--")
    axes[0].text(x, axes[0].get_ylim()[1] * 0.9, label, ha="center", fontsize=8)
axes[0].axvline(dark_peak, color="tab:red", lw=0.8)
axes[0].text(dark_peak, axes[0].get_ylim()[1] * 0.7, "lung", color="tab:red", ha="center", fontsize=8)
axes[1].hist(mr_raw.ravel(), bins=120, color="tab:green")
axes[1].set_title("MR slice: arbitrary units")
axes[2].imshow(data.window(hu, -600, 1500), cmap="gray", vmin=0, vmax=1)
axes[2].set_title("the CT slice (window −600 / 1500 HU)", fontsize=9)
axes[2].axis("off")
plt.show()
print(f"darkest CT pixel: {hu.min():.0f} HU | the dark peak sits at about {dark_peak:.0f} HU | "
      f"field of view: {hu.shape[1] * float(ct_spacing):.0f} mm across")

# %% [markdown]
# Where is the air peak at −1000 HU? There is none, because there is no air in
# this picture. The test file is a small crop (128 × 128 pixels of 0.66 mm, so
# about 85 mm across) of a chest CT around a thoracic vertebra; its darkest
# tissue is the **lung** in the top corners. A lung voxel is air mixed with the
# thin walls of the air sacs, small vessels and blood, and a CT voxel reports the
# *average* of everything inside it (the **partial-volume** effect); lung
# therefore measures roughly −900 to −700 HU, not −1000. Pure air would appear
# only outside the body or in the large airways, and neither is in the crop.
# The windowing below is not the cause: it is applied after these numbers.

# %% [markdown]
# ## 3 · Why and how we normalise
#
# The generator ends in `tanh`, so it draws values in [−1, 1]; the real images must
# live in the same range. How we get there depends on the modality.
#
# **CT → windowing.** A *window* (centre C, width W) shows the HU range
# [C − W/2, C + W/2] from black to white and clips the rest. Radiologists pick the
# window for the tissue they look at; the same slice looks very different:

# %%
names = ["brain", "soft-tissue", "lung", "bone"]
fig, axes = plt.subplots(1, len(names), figsize=(12, 3.2))
for ax, name in zip(axes, names):
    centre, width = data.CT_WINDOWS[name]
    ax.imshow(data.window(hu, centre, width), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{name}\nC={centre:g} W={width:g} HU")
    ax.axis("off")
plt.show()

# %% [markdown]
# **MR → percentile clipping.** With arbitrary units we cannot pick a window in
# advance, and the plain minimum–maximum is fragile: one bright artefact pixel
# decides the contrast of the whole image. Clipping to the 0.5th and 99.5th
# percentiles ignores such outliers. Here we add one hot pixel to the real MR
# slice and compare:

# %%
mr_artefact = mr_raw.copy()
mr_artefact[5, 5] = mr_raw.max() * 20  # one hot pixel
min_max = (mr_artefact - mr_artefact.min()) / (mr_artefact.max() - mr_artefact.min())
clipped = data.percentile_clip(mr_artefact, 0.5, 99.5)
fig, axes = plt.subplots(1, 2, figsize=(6.5, 3.4))
for ax, img, title in [(axes[0], min_max, "min-max: all tissue near black"), (axes[1], clipped, "percentile clip 0.5-99.5")]:
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# After normalisation the kit stores every image as `uint8` (0–255): four times
# smaller than float32. The conversion to [−1, 1] (`p / 127.5 − 1`) happens only
# when a batch is used.

# %% [markdown]
# ## 4 · Resizing: square, and without aliasing
#
# GANs want square images of one size. We **pad** to a square (so anatomy is not
# stretched) and then resize with an **anti-aliasing** filter. Plain subsampling
# (keeping every 4th pixel) turns fine detail into jagged noise:

# %%
ct_unit = data.window(hu, *data.CT_WINDOWS["soft-tissue"])
ct_uint8 = np.rint(ct_unit * 255).astype(np.uint8)
wide = ct_uint8[24:104, :]  # a non-square crop, 80 x 128
square = data.pad_to_square_and_resize(wide, 128)  # padded to 128 x 128, not resized yet
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
panels = [
    (square, f"crop {wide.shape[0]}x{wide.shape[1]}, padded to a square"),
    (square[::4, ::4], "32x32 by keeping every 4th pixel"),
    (data.pad_to_square_and_resize(wide, 32), "32x32 with anti-aliasing"),
]
for ax, (img, title) in zip(axes, panels):
    ax.imshow(img, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# `brain-mri` is made the same way in 3-D: the volume is blurred to the output
# pixel size before each oblique plane is sampled, so a 32-pixel slice is a faithful
# small version of the brain, not a sparse sample of it.

# %% [markdown]
# ## 5 · Class balance and the splits
#
# Labels here are the anatomical level of the slice. A conditional GAN learns a
# rare class poorly, so count before training. The numbers are the same at every
# image size:

# %%
# NBVAL_CHECK_OUTPUT
for split, ds in splits.items():
    print(f"{split:>5}: {len(ds):5d} images |", ", ".join(f"{name}: {n}" for name, n in ds.class_counts().items()))

# %%
counts = np.array([[ds.class_counts()[c] for c in train.class_names] for ds in splits.values()])
x = np.arange(len(train.class_names))
plt.figure(figsize=(8, 3))
for i, split in enumerate(splits):
    plt.bar(x + (i - 1) * 0.27, counts[i], width=0.27, label=split)
plt.xticks(x, train.class_names, fontsize=8)
plt.ylabel("images")
plt.legend()
plt.title("images per class and split")
plt.show()

# %% [markdown]
# `brain-mri` is balanced by design. Real data rarely is: in PneumoniaMNIST about
# three in four training images show pneumonia. Then either weight the classes or
# know that the GAN will see the rare class less often.
#
# The splits come from **different slice positions** (disjoint blocks along the
# head-to-foot axis, with gaps between them), so a test image is never a near-copy
# of a training image. Notebook 05 relies on that to detect memorisation.

# %%
if "z_mm" in train.metadata:
    plt.figure(figsize=(8, 2.6))
    for split, ds in splits.items():
        plt.hist(ds.metadata["z_mm"], bins=np.arange(-60, 76, 1.0), label=split, alpha=0.8)
    plt.xlabel("slice position (MNI z, mm): feet <- -> top of the head")
    plt.ylabel("images")
    plt.legend()
    plt.show()

# %% [markdown]
# ## 6 · The load report
#
# Every load reports what it kept and what it skipped, and why. For `brain-mri`
# there is nothing to skip:

# %%
print(train.report)

# %% [markdown]
# Real folders are messier. We copy the two DICOM test files into a temporary
# folder (a CT without a file extension: the loader recognises DICOM by the `DICM`
# marker inside), add a truncated copy, a duplicate and a text file, and load it as
# `folder:`. The bad files are skipped and listed; nothing is written into the
# folder.

# %%
messy = Path(tempfile.mkdtemp(prefix="messy_scans_"))
(messy / "IM0001").write_bytes(Path(get_testdata_file(CT_FILE)).read_bytes())
(messy / "mr.dcm").write_bytes(Path(get_testdata_file(MR_FILE)).read_bytes())
(messy / "mr_copy.dcm").write_bytes((messy / "mr.dcm").read_bytes())
(messy / "broken.dcm").write_bytes((messy / "IM0001").read_bytes()[:3000])
(messy / "notes.txt").write_text("scan list")
mine = data.load_dataset(f"folder:{messy}", image_size=IMAGE_SIZE, split="train")
print(mine.report.with_paths())  # relative paths on screen only; never saved
shutil.rmtree(messy)  # our own temporary folder: tidy up

# %% [markdown]
# ## 7 · The `tf.data` pipeline
#
# `to_tf_dataset` turns an `ImageSet` into the stream `GAN.fit` consumes:
#
# 1. **cache** the compact uint8 pixels in memory,
# 2. **shuffle** with a seed (a new order every epoch, the same orders for the same seed),
# 3. **batch**,
# 4. convert the batch to float32 in [−1, 1] (only now: memory stays small),
# 5. **prefetch** the next batch while the model works on this one.

# %%
tfds = data.to_tf_dataset(train, batch_size=BATCH_SIZE, seed=SEED)
images, labels = next(iter(tfds))
print("images:", images.dtype.name, "batch of", images.shape[0], "| channels:", images.shape[-1])
print(f"value range: {float(tf.reduce_min(images)):.1f} to {float(tf.reduce_max(images)):.1f}")
print("labels:", labels.dtype.name, labels.shape)

# %%
# NBVAL_CHECK_OUTPUT
again = next(iter(data.to_tf_dataset(train, batch_size=BATCH_SIZE, seed=SEED)))
print("same seed, same first batch:", bool(tf.reduce_all(again[1] == labels)))
print("batches per epoch:", len(train) // BATCH_SIZE)

# %% [markdown]
# After preparation the pixel values spread over [−1, 1]: a spike at −1 (the
# black background) and the tissues above it.

# %%
plt.figure(figsize=(6, 2.8))
plt.hist(images.numpy().ravel(), bins=100, color="tab:purple", log=True)
plt.xlabel("prepared pixel value")
plt.ylabel("pixels in one batch (log scale)")
plt.show()

# %% [markdown]
# ## 8 · A grid of prepared images
#
# The last check before training: look at what the GAN will see. One row per
# anatomical level, from the cerebellum up to the vertex.

# %%
per_class = 8
rows = [np.flatnonzero(train.labels == c)[:per_class] for c in range(len(train.class_names))]
fig, axes = plt.subplots(len(rows), per_class, figsize=(per_class * 1.2, len(rows) * 1.35))
for r, indices in enumerate(rows):
    batch = train.batch_images(indices)
    for c in range(per_class):
        axes[r, c].imshow(batch[c, ..., 0], cmap="gray", vmin=-1, vmax=1)
        axes[r, c].axis("off")
    axes[r, 0].set_title(train.class_names[r], fontsize=8, loc="left")
plt.tight_layout()
grid_path = config.artifacts_dir() / "01_prepared_grid.png"
fig.savefig(grid_path, dpi=100)
plt.show()

# %% [markdown]
# ## What you learned
#
# - A dataset card says where images come from, under which licence, and what was
#   done to them; `brain-mri` is one *average* brain, seen through many planes.
# - CT intensities are absolute (HU) and are **windowed**; MR intensities are
#   relative and are **percentile-clipped**, which resists outliers.
# - Pad to a square and resize with anti-aliasing: no stretched anatomy, no jagged
#   detail.
# - Count classes and read the load report before training; keep splits apart by
#   slice position, file or patient, never by image.
# - The pipeline keeps uint8 pixels until the last moment and yields float32
#   batches in [−1, 1], shuffled reproducibly.

# %% [markdown]
# ## Exercises
#
# ### Exercise 1 · Write a CT window
#
# Complete `my_window(hu, centre, width)`: HU at or below `centre - width / 2`
# become 0, at or above `centre + width / 2` become 1, linear in between.

# %%
def my_window(hu, centre, width):
    return hu  # replace this line


exercises.check_window(my_window)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_window(hu, centre, width):
#     low = centre - width / 2
#     return np.clip((hu - low) / width, 0.0, 1.0)
# ```
# </details>
#
# ### Exercise 2 · Percentile clipping for MR
#
# Complete `my_clip(x)`: clip to the 0.5th and 99.5th percentiles, scale to
# [0, 1]. The check adds a hot pixel to a real MR slice.

# %%
def my_clip(x):
    return (x - x.min()) / (x.max() - x.min())  # min-max: try it, then fix it


exercises.check_percentile_clip(my_clip)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_clip(x):
#     low, high = np.percentile(x, [0.5, 99.5])
#     return np.clip((x - low) / (high - low), 0.0, 1.0)
# ```
# </details>
#
# ### Exercise 3 · Measure the aliasing
#
# Section 4 showed by eye what keeping every 4th pixel does. Now change the
# downsampling and *measure* the difference. Complete `my_downsample(image,
# factor)` (a 2-D float image whose sides are multiples of `factor`) so that it
# shrinks the image `factor` times without aliasing. The check feeds it a grating
# of stripes 3 pixels apart — finer than a 4× smaller image can show, so every
# pattern left in the output is false — and a real CT slice, and prints how much
# false pattern survives next to plain subsampling, and how far the result is
# from the kit's LANCZOS resize.

# %%
def my_downsample(image, factor):
    return image[::factor, ::factor]  # keeps every factor-th pixel: measure it, then fix it


exercises.check_downsample(my_downsample)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_downsample(image, factor):
#     h, w = image.shape
#     return image.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
# ```
#
# Each output pixel is the mean of the block it covers (a "box" filter). The
# false pattern falls to a quarter of what subsampling leaves; the kit's LANCZOS
# filter, which weighs a wider neighbourhood, removes almost all of it.
# </details>
#
# ### Exercise 4 · An unconditional pipeline
#
# An unconditional GAN needs no labels. Build a pipeline of the `val` split with
# batches of 32 images and no labels (look at `help(data.to_tf_dataset)`).

# %%
my_tfds = data.to_tf_dataset(splits["val"], batch_size=BATCH_SIZE, seed=SEED)  # change me

exercises.check_pipeline(my_tfds, splits, batch_size=32)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_tfds = data.to_tf_dataset(splits["val"], batch_size=32, seed=SEED, include_labels=False)
# ```
# </details>
