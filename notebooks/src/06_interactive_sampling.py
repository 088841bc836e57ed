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
# # 06 · Interactive sampling: turn a knob, watch a brain slice change
#
# <!-- colab-badge -->
#
# A trained generator is a machine that turns a short list of random numbers —
# the latent vector `z` — into a brain slice. In this notebook you *play* with that machine: a sampler with a seed
# slider, a class menu, a truncation knob and a few "latent direction" sliders,
# an interpolation strip between two seeds, and — next to every sample — the
# closest real training image, so you can see whether the GAN invents or copies.
# Then we look at each knob in a picture: walking the latent space, straight vs
# spherical interpolation, class-conditional generation, the truncation
# trade-off between diversity and fidelity, and what memorisation looks like.
#
# **Learning goals**
#
# - explain what the seed, the class label and truncation do to the latent input of G;
# - interpolate between two latents along the sphere (slerp) and say why not a straight line;
# - read the truncation trade-off: fewer odd samples, but less variety;
# - use nearest real training images to spot memorisation, and compare with a real reference.
#
# **Time:** about 15 minutes on a Colab GPU or a 2-core CPU with the shipped
# pretrained model (longer if no model exists and a quick one has to be trained),
# plus 15 minutes of exercises. Tip: `voila notebooks/06_interactive_sampling.ipynb`
# shows this notebook as an app, without the code.

# %%
# setup-cell

# %% [markdown]
# ## Setup imports

# %%

import ipywidgets
import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from IPython.display import Image, display

import medgan_helpers
from medgan_helpers import config, data, evaluation, exercises, pictures, sampling, training, widgets

print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| ipywidgets", ipywidgets.__version__,
      "| medgan_helpers", medgan_helpers.__version__)

# %% [markdown]
# ## Parameters
#
# `N_SAMPLES` is how many samples the memorisation check uses, `N_PER_CLASS` how
# many per class and truncation threshold the trade-off uses;
# `PCA_SAMPLES` how many generated images the sampler looks at once to find its
# latent directions.
#
# To use a MedMNIST 2-D set instead of brain MRI, set `DATASET = "pneumoniamnist"`
# (or `"bloodmnist"`, `"dermamnist"`, … with `IMAGE_SIZE` 28, 64 or 128); it
# downloads once (on Colab; offline, see the README's troubleshooting).
# The pretrained model is brain-mri only: for another dataset, train it in notebook 04 first.

# %% tags=["parameters"]
DATASET = "brain-mri"
IMAGE_SIZE = 64
SEED = 0
N_DIRECTIONS = 3
PCA_SAMPLES = config.quick_or(256, 64)
N_SAMPLES = config.quick_or(256, 48)
N_PER_CLASS = config.quick_or(64, 12)
TRUNCATIONS = [0.25, 0.5, 1.0, 1.5, 2.0, None]  # None = no truncation

# %% [markdown]
# ## The model and the real images
#
# We take the newest model trained in notebook 04 (in `artifacts/`); if there is
# none, the small pretrained generator shipped with the kit; if that is missing
# too, a quick model is trained on the spot. The line printed says which one you got.

# %%
config.seed_everything(SEED)
model, source = training.load_latest_or_pretrained(DATASET, image_size=IMAGE_SIZE, quick=config.is_quick())
print(source)

# %% [markdown]
# The real training images are the reference for the "nearest real image" panel.

# %%
# NBVAL_CHECK_OUTPUT
real = data.load_dataset(DATASET, image_size=IMAGE_SIZE, split="train", seed=SEED)
print(len(real), "training images,", real.image_size, "px,", real.class_names)

# %% [markdown]
# ## The sampler
#
# Move the controls and watch the sample update in place:
#
# - **seed** picks the random latent vector `z` (same seed → same image); **new seed** jumps to a random one;
# - **class** is the label fed to a conditional G beside `z` (which part of the brain);
# - **truncation** redraws every entry of `z` whose size is above the threshold (at the right end it is off);
# - **direction 1–3** push `z` along the latent directions in which G's output changes most;
# - the **interpolation** strip walks from the current seed to a second seed;
# - on the right, the **nearest real training image**, with its pixel distance.

# %%
sampler = widgets.SamplerWidget(model, dataset=real, n_directions=N_DIRECTIONS, pca_samples=PCA_SAMPLES, seed=SEED)
display(sampler)

# %% [markdown]
# A saved notebook keeps the widget's controls but not its pictures (GitHub, for
# one, shows no live widgets), so after each widget the notebook also stores a
# still picture of what it shows, made from the sampler's own state: the current
# sample, its nearest real training image, and the interpolation strip.

# %%
def snapshot(sampler, scale=2):
    """A PNG of what the sampler shows now: sample | nearest real image, and the strip below."""
    top = [sampler.current_image]
    if sampler.nearest_index is not None:
        top.append(np.asarray(real.batch_images([sampler.nearest_index])[0], np.float32))
    strip = pictures.image_strip(sampler.strip_images)
    canvas = np.ones((strip.shape[0] * 2 + 6, strip.shape[1], strip.shape[2]), np.float32)  # white
    pair = pictures.image_strip(np.stack(top))
    canvas[: pair.shape[0], : pair.shape[1]] = pair
    canvas[-strip.shape[0]:] = strip
    where = f"seed {sampler.seed}" + (f" · {sampler.class_names[sampler.label]}" if sampler.label is not None else "")
    if sampler.nearest_index is not None:
        where += f" · right: nearest real image #{sampler.nearest_index} (L2 distance {sampler.nearest_distance:.1f})"
    print(f"{where}; below: interpolation to seed {sampler.explorer.strip_seed}")
    return Image(pictures.to_png(canvas, scale=scale))


snapshot(sampler)

# %% [markdown]
# How were the direction sliders found? The line below says it. In short: the
# sampler generated a few hundred images, found the main ways in which they
# differ (principal components of the pixels), and asked which move of `z`
# predicts each of them best.

# %%
print("directions:", sampler.direction_note)
print(f"one sample takes about {sampler.time_render():.0f} ms to generate, search its nearest real image and draw")

# %% [markdown]
# The widget is only the view. What it shows lives in `sampler.explorer`, a
# `LatentExplorer` with no widget in it: the seed, the class, the truncation,
# the direction values, the strip's second seed, and the search for the nearest
# real image. Drive it from code and the picture above changes when you run this
# cell. The tests check the sampler this way, without a browser; a script can use
# an explorer on its own (`explorer.LatentExplorer(model, dataset=real)`).

# %%
sampler.set(seed=42, label=1 if sampler.num_classes else None)
print(sampler.explorer.state())
print("nearest real image #", sampler.nearest_index, f"at distance {sampler.nearest_distance:.1f}")

# %% [markdown]
# What the widget shows now, as a still picture:

# %%
snapshot(sampler)

# %% [markdown]
# ## Walking the latent space
#
# Each row is one seed; from left to right we move `z` along direction 1, from
# −3 to +3 standard deviations. A smooth change from left to right means G has
# learned a *continuous* space: nearby latents make similar slices.

# %%
steps = np.linspace(-3, 3, 7)
label = None if sampler.num_classes is None else np.zeros(len(steps), np.int32)
rows = [model.generate_from_latent(model.sample_latent(1, seed=s) + steps[:, None] * sampler.directions[0], label)
        for s in (1, 2, 3)]
fig, axes = plt.subplots(3, len(steps), figsize=(1.4 * len(steps), 4.4))
for r, images in enumerate(rows):
    for c, image in enumerate(images):
        axes[r, c].imshow(image[..., 0], cmap="gray", vmin=-1, vmax=1)
        axes[r, c].set_title(f"{steps[c]:+.0f}" if r == 0 else "", fontsize=9)
        axes[r, c].axis("off")
fig.suptitle("moving z along direction 1")
plt.show()

# %% [markdown]
# ## Interpolation: straight line or great circle?
#
# A normal vector with `latent_dim` entries almost always has a length close to
# √latent_dim (√128 ≈ 11.3, √64 = 8). On a straight line between two such vectors
# the length dips in the middle — G rarely saw latents that short. Spherical
# interpolation (slerp) keeps the length.

# %%
z0, z1 = model.sample_latent(1, seed=10)[0], model.sample_latent(1, seed=20)[0]
t = np.linspace(0, 1, 9)
linear = (1 - t)[:, None] * z0 + t[:, None] * z1
spherical = sampling.slerp(z0, z1, t)
plt.figure(figsize=(5, 2.6))
plt.plot(t, np.linalg.norm(linear, axis=1), "o-", label="straight line (lerp)")
plt.plot(t, np.linalg.norm(spherical, axis=1), "o-", label="great circle (slerp)")
plt.axhline(np.sqrt(model.latent_dim), color="gray", ls=":", label="√latent_dim")
plt.xlabel("t")
plt.ylabel("|z|")
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# And the two paths as images (top: straight line, bottom: slerp). Some
# generators draw flatter, greyer images in the middle of the straight path,
# where |z| dips. The one loaded here barely does: in the stored pictures both
# rows make the same change — a large cerebellum slice shrinks into a small one,
# with no grey frame in between — the straight path a few frames earlier than
# the great circle. For this G the choice matters little; check yours.

# %%
label = None if sampler.num_classes is None else np.zeros(len(t), np.int32)
paths = [model.generate_from_latent(linear.astype(np.float32), label), model.generate_from_latent(spherical, label)]
fig, axes = plt.subplots(2, 1, figsize=(12, 3))
for ax, images, name in zip(axes, paths, ["lerp", "slerp"]):
    ax.imshow(pictures.image_strip(images)[..., 0], cmap="gray", vmin=-1, vmax=1)
    ax.set_title(name, fontsize=9, loc="left")
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Class-conditional generation
#
# For a conditional G the same latent `z` is drawn with each class label: the
# columns share a seed, the rows share a class. If G learned the labels, each row
# looks like its anatomy and each column keeps some "style" (contrast, size).

# %%
if sampler.num_classes:
    seeds = list(range(6))
    fig, axes = plt.subplots(sampler.num_classes, len(seeds), figsize=(1.5 * len(seeds), 1.6 * sampler.num_classes))
    for c in range(sampler.num_classes):
        images = model.generate_from_latent(np.concatenate([model.sample_latent(1, seed=s) for s in seeds]),
                                            np.full(len(seeds), c, np.int32))
        for j, image in enumerate(images):
            axes[c, j].imshow(image[..., 0], cmap="gray", vmin=-1, vmax=1)
            axes[c, j].axis("off")
        axes[c, 0].set_title(sampler.class_names[c], fontsize=8, loc="left")
    plt.show()
else:
    print("This model is unconditional: there is no class label to vary.")

# %% [markdown]
# ## The truncation trade-off
#
# Truncation redraws the unusually large entries of `z`, so G only sees latents
# from the well-trained middle of its latent space. The textbook trade-off: samples
# become more typical (closer to real images) but also more alike. We measure
# both, *within each class* (otherwise the differences between classes would
# dominate), for `N_PER_CLASS` samples per class and threshold:
#
# - **diversity**: the mean pixel distance between pairs of samples (higher = more varied);
# - **distance to the nearest real image** (lower = closer to the training data).

# %%
def diversity(images):
    """Mean L2 distance over all pairs of different images (via the Gram matrix: little memory)."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    sq = (flat**2).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * flat @ flat.T, 0))
    return d[np.triu_indices(len(flat), 1)].mean()


classes = list(range(sampler.num_classes)) if sampler.num_classes else [None]
sweep = {c: {"diversity": [], "nearest": []} for c in classes}
for c in classes:
    for trunc in TRUNCATIONS:
        fakes = model.generate(N_PER_CLASS, labels=c, seed=SEED, truncation=trunc)
        sweep[c]["diversity"].append(diversity(fakes))
        sweep[c]["nearest"].append(evaluation.nearest_neighbours(fakes, real.images)[1].mean())

# %%
names = [str(t) if t is not None else "off" for t in TRUNCATIONS]
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for c in classes:
    label = sampler.class_names[c] if c is not None else "all"
    axes[0].plot(names, sweep[c]["diversity"], "o-", label=label)
    axes[1].plot(names, sweep[c]["nearest"], "o-", label=label)
axes[0].set_title("diversity (higher = more varied)", fontsize=10)
axes[1].set_title("distance to nearest real (lower = closer)", fontsize=10)
for ax in axes:
    ax.set_xlabel("truncation threshold")
axes[1].legend(fontsize=7)
plt.tight_layout()
plt.show()
for c in classes:
    nearest = sweep[c]["nearest"]  # from the strongest truncation to none
    steady = all(a <= b for a, b in zip(nearest, nearest[1:]))
    print(f"{sampler.class_names[c] if c is not None else 'all':<28} distance to nearest real: "
          f"{nearest[-1]:5.1f} without truncation -> {nearest[0]:5.1f} at {names[0]}"
          f" ({'falls at every step' if steady else 'not at every step'})")

# %% [markdown]
# Read the two panels together. Diversity falls steadily as the threshold
# shrinks, in every class. The distance to the nearest real image tends to fall
# too (the printout says by how much, class by class, and whether at every
# step): a latent near zero gives a *typical*, smoother slice, which sits closer
# to some real slice. How much differs a lot between classes, and from one
# trained run to the next — an earlier run of this notebook had the cerebellum /
# brainstem distance going up and down. Closer to a real slice is also closer to
# copying one, with far less variety: strong truncation is no free lunch, and a
# threshold around 1–1.5 is often a good compromise — check your own curves.
#
# The same seeds at each threshold, from strong truncation (top) to none (bottom);
# the columns cycle through the classes. In the stored pictures the top rows
# are smoother (less speckle) and more alike: the two cerebellum slices become
# small, similar slices, where without truncation they differ in size and shape.

# %%
fig, axes = plt.subplots(len(TRUNCATIONS), 1, figsize=(8, 1.5 * len(TRUNCATIONS)))
for ax, name, trunc in zip(axes, names, TRUNCATIONS):
    examples = model.generate(6, seed=SEED, truncation=trunc)
    ax.imshow(pictures.image_strip(examples)[..., 0], cmap="gray", vmin=-1, vmax=1)
    ax.set_title(f"truncation {name}", fontsize=8, loc="left")
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What memorisation looks like
#
# A GAN that memorised its training set would produce near-copies of training
# images. To judge "near", we need a reference from the same distribution: how
# close is each *training* image to its nearest *other* training image
# (leave-one-out)? A generator that draws new images from the training
# distribution lands closer than the 1st percentile of those distances about
# 1 % of the time by chance; a memorising one lands there far more often. (The
# real test split is no good reference here: it holds other slice positions, so
# its distances are larger and it would flag faithful non-copies — the grey
# histogram below shows how much larger.)

# %%
test = data.load_dataset(DATASET, image_size=IMAGE_SIZE, split="test", seed=SEED)
fakes = model.generate(N_SAMPLES, seed=SEED + 1)
fake_index, fake_dist = evaluation.nearest_neighbours(fakes, real.images)
calibration = np.arange(0, len(real), max(1, len(real) // 500))  # up to 500 training images
_, loo_dist = evaluation.nearest_neighbours(real.images[calibration], real.images, exclude=calibration)
_, test_dist = evaluation.nearest_neighbours(test.images[: max(N_SAMPLES, 200)], real.images)
threshold = np.percentile(loo_dist, 1)
print(f"flagged as possible copies: {(fake_dist < threshold).sum()} of {len(fakes)} samples "
      f"(closer than the 1st percentile of train→other-train distances, {threshold:.2f}; "
      f"about {len(fakes) / 100:.0f} expected by chance)")

# %%
plt.figure(figsize=(6, 2.8))
plt.hist(loo_dist, bins=30, alpha=0.6, label="real train → nearest other train")
plt.hist(fake_dist, bins=30, alpha=0.6, label="generated → nearest train")
plt.hist(test_dist, bins=30, alpha=0.4, color="grey", label="real test → nearest train")
plt.axvline(threshold, color="k", ls=":", label="1st percentile of train→train")
plt.xlabel("L2 pixel distance")
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# The four samples closest to a training image, each above its nearest real
# neighbour — what the sampler's right-hand panel shows for one sample. Look before
# you conclude: a flagged sample is a prompt to look, not a verdict. Pixel distance
# is dominated by the black background, so two *small* slices (the lowest ones,
# say) are close even when their shapes differ. A real copy would match the
# neighbour detail for detail. That is why notebook 05 also measures memorisation
# in a learned feature space, and why a model trained on a single averaged brain
# (our `brain-mri` set) will always sit close to its training slices.

# %%
closest = np.argsort(fake_dist)[:4]
fig, axes = plt.subplots(2, 4, figsize=(7, 3.8))
for j, i in enumerate(closest):
    axes[0, j].imshow(fakes[i][..., 0], cmap="gray", vmin=-1, vmax=1)
    axes[0, j].set_title(f"d = {fake_dist[i]:.1f}", fontsize=8)
    axes[1, j].imshow(real.images[fake_index[i]][..., 0], cmap="gray", vmin=-1, vmax=1)
    axes[1, j].set_title(f"real #{fake_index[i]}", fontsize=8)
for ax in axes.ravel():
    ax.axis("off")
plt.show()

# %% [markdown]
# ## What you learned
#
# - A sample is fully determined by its latent `z` (from the seed) and, for a conditional G, its class label.
# - Latent directions found by PCA of G's outputs give meaningful knobs; moving along them changes the slice smoothly.
# - Interpolate latents along the sphere (slerp): a straight line passes through unusually short latents.
# - Truncation trades diversity for typicality — up to a point: too strong, and a class's "average" slice can look like no real one.
# - Memorisation is judged *relative to a reference* (how close each real training image is to its nearest *other* training image, leave-one-out), and a flag means "look at the pair", not "copied".
#
# ## Exercises
#
# **Exercise 1 — slerp.** Write `my_slerp(z0, z1, t)` for a scalar `t`: interpolate
# the *directions* of `z0` and `z1` along the great circle and their *lengths* linearly.

# %%
def my_slerp(z0, z1, t):
    # your code here (hint: omega = np.arccos(np.dot(u0, u1)) for the unit vectors u0, u1)
    return (1 - t) * z0 + t * z1  # a straight line: replace it


exercises.check_slerp(my_slerp)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_slerp(z0, z1, t):
#     n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
#     u0, u1 = z0 / n0, z1 / n1
#     omega = np.arccos(np.clip(np.dot(u0, u1), -1, 1))
#     u = (np.sin((1 - t) * omega) * u0 + np.sin(t * omega) * u1) / np.sin(omega)
#     return u / np.linalg.norm(u) * ((1 - t) * n0 + t * n1)
# ```
# </details>
#
# **Exercise 2 — the nearest real image.** Write `nearest(sample, reals)` that
# returns the index of the real image closest to `sample` (L2 distance over all
# pixels) and that distance. Then try it on `sampler.current_image` and `real.images`:
# do you get the sampler's `nearest_index`?

# %%
def nearest(sample, reals):
    # your code here
    return 0, 0.0


exercises.check_nearest_real(nearest)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def nearest(sample, reals):
#     d = np.linalg.norm(reals.reshape(len(reals), -1) - sample.reshape(1, -1), axis=1)
#     return int(np.argmin(d)), float(d.min())
#
# print(nearest(sampler.current_image, real.images)[0], sampler.nearest_index)
# ```
# </details>
#
# **Exercise 3 — diversity.** Write `my_diversity(images)`: the mean L2 distance
# over all pairs of *different* images. Then use it to find the smallest
# truncation at which the samples keep at least 80 % of the untruncated diversity.

# %%
def my_diversity(images):
    # your code here
    return 0.0


exercises.check_diversity(my_diversity)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_diversity(images):
#     flat = images.reshape(len(images), -1)
#     d = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
#     return d[np.triu_indices(len(images), k=1)].mean()
#
# full = my_diversity(model.generate(32, seed=0))
# for t in [0.25, 0.5, 1.0, 1.5, 2.0]:
#     print(t, my_diversity(model.generate(32, seed=0, truncation=t)) / full)
# ```
# </details>
