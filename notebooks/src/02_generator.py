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
# # 02 · The generator: from a latent vector to an image
#
# <!-- colab-badge -->
#
# A GAN's generator **G** is a function that turns a short list of random numbers
# — the *latent vector* `z` — into an image. In this notebook we open G up: we
# work out by hand how a *transposed convolution* makes a small picture larger,
# read the kit's generator layer by layer, look at what an untrained G draws,
# and see how a class label (which part of the brain) is fed in beside `z`.
# Nothing is trained here; notebook 04 does that.
#
# **Learning goals**
#
# - say what a latent vector is and why it is drawn from a normal distribution;
# - compute the output size of a transposed convolution, and do one by hand;
# - read the generator's shapes from `z` (64 numbers) to a 64×64 image;
# - explain what an untrained G produces and why;
# - describe how a class label conditions G (a learned embedding next to `z`).
#
# **Time:** about 10 minutes to read and run on a Colab GPU or on a 2-core CPU
# (nothing heavy runs here), plus 15 minutes of exercises.

# %%
# setup-cell

# %% [markdown]
# ## Setup imports
#
# All imports in one place, then the versions, so a result can always be traced
# back to the software that made it.

# %%
import importlib.util
import inspect
import json

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import medgan_helpers
from medgan_helpers import config, data, exercises, models, pictures

print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| medgan_helpers", medgan_helpers.__version__)

# %% [markdown]
# ## Parameters
#
# The knobs of this notebook. `LATENT_DIM` is the length of `z`; `SEED` makes
# every random draw below repeatable.
#
# To use a MedMNIST 2-D set instead of brain MRI, set `DATASET = "pneumoniamnist"`
# (or `"bloodmnist"`, `"dermamnist"`, … with `IMAGE_SIZE` 28, 64 or 128); it
# downloads once (on Colab; offline, see the README's troubleshooting).

# %% tags=["parameters"]
DATASET = "brain-mri"
IMAGE_SIZE = 64
LATENT_DIM = 64  # the recipe's latent size (recipe.gan_config().latent_dim)
SEED = 0
N_SAMPLES = 8  # images per row in the pictures

# %%
config.seed_everything(SEED)
real = data.load_dataset(DATASET, image_size=IMAGE_SIZE, split="train", seed=SEED)
print(real)

# %% [markdown]
# These are the images G will have to learn to imitate (in notebook 04). One row,
# chosen at random, on the same grey scale the generator will use: −1 is black,
# +1 is white.

# %%
rng = np.random.default_rng(SEED)
picked = rng.choice(len(real), size=N_SAMPLES, replace=False)
fig, axes = plt.subplots(1, N_SAMPLES, figsize=(1.6 * N_SAMPLES, 1.9))
for ax, index in zip(axes, picked):
    ax.imshow(real.batch_images([index])[0, :, :, 0], cmap="gray", vmin=-1, vmax=1)
    ax.set_title(real.class_names[real.labels[index]].split(" /")[0], fontsize=7)
    ax.axis("off")
fig.suptitle(f"Real {DATASET} training slices, {IMAGE_SIZE}×{IMAGE_SIZE}", fontsize=10)
plt.show()

# %% [markdown]
# ## 1 · The latent vector `z`
#
# G's input is a vector of `LATENT_DIM` numbers, each drawn independently from a
# standard normal distribution $\mathcal{N}(0, 1)$. Why random? Because we want
# G to make *many different* images: every new `z` is a new "seed" for a new
# image. Why a normal distribution? Only because it is easy to sample and
# smooth; training teaches G to map this simple cloud of points onto the
# complicated set of realistic brain slices.

# %%
# NBVAL_CHECK_OUTPUT
z = rng.standard_normal((N_SAMPLES, LATENT_DIM)).astype("float32")
print("z has shape", z.shape, "— one row of", LATENT_DIM, "numbers per image")

# %% [markdown]
# Here is one `z` drawn as a strip of 64 coloured cells, and the histogram of all
# the numbers we drew: the familiar bell curve, centred on 0.

# %%
fig, (ax_strip, ax_hist) = plt.subplots(1, 2, figsize=(10, 2.2), gridspec_kw={"width_ratios": [3, 1]})
ax_strip.imshow(z[:1], cmap="coolwarm", vmin=-3, vmax=3, aspect="auto")
ax_strip.set_yticks([])
ax_strip.set_title("one latent vector z (blue = negative, red = positive)", fontsize=9)
ax_hist.hist(z.ravel(), bins=30, color="gray")
ax_hist.set_title(f"all {z.size} numbers", fontsize=9)
plt.show()

# %% [markdown]
# ## 2 · Making images larger: the transposed convolution
#
# A normal convolution with stride 2 *shrinks* a picture by half. G needs the
# opposite: start from a tiny 4×4 map and *grow* it to 64×64. The classic tool
# is the **transposed convolution** (`keras.layers.Conv2DTranspose`). Its rule
# is simple:
#
# > every input pixel *stamps* a copy of the kernel, scaled by its value, into the
# > output; neighbouring stamps sit `stride` pixels apart, and where they overlap
# > they add up.
#
# Let us do it by hand for a 2×2 input, a 3×3 kernel of ones and stride 2.

# %%
def transposed_conv_by_hand(x, kernel, stride):
    """Stamp kernel * x[i, j] at (i * stride, j * stride) and add the stamps up."""
    n, k = x.shape[0], kernel.shape[0]
    out = np.zeros(((n - 1) * stride + k, (n - 1) * stride + k))
    for i in range(n):
        for j in range(n):
            out[i * stride : i * stride + k, j * stride : j * stride + k] += x[i, j] * kernel
    return out


# %%
# NBVAL_CHECK_OUTPUT
x_small = np.array([[1.0, 2.0], [3.0, 4.0]])
kernel = np.ones((3, 3))
by_hand = transposed_conv_by_hand(x_small, kernel, stride=2)
print(by_hand)

# %% [markdown]
# Now the same thing with Keras: one `Conv2DTranspose` layer with one filter,
# no bias, and its kernel set to our ones. Keras wants images as
# (batch, height, width, channels), hence the `[None, :, :, None]`.

# %%
# NBVAL_CHECK_OUTPUT
layer = keras.layers.Conv2DTranspose(1, kernel_size=3, strides=2, padding="valid", use_bias=False)
layer.build((None, 2, 2, 1))
layer.set_weights([kernel[:, :, None, None]])
by_keras = np.asarray(layer(x_small[None, :, :, None]))[0, :, :, 0]
print(by_keras)
print("same as by hand:", np.allclose(by_keras, by_hand))

# %% [markdown]
# The picture below shows the four stamps (one per input pixel) and their sum.
# Look at the middle row and column of the result: that is where stamps overlap,
# so the values there are sums (1 + 2 = 3, 1 + 3 = 4, 1 + 2 + 3 + 4 = 10).

# %%
def show_numbers(ax, array, title):
    ax.imshow(array, cmap="viridis", vmin=0, vmax=max(10, array.max()))
    for (r, c), value in np.ndenumerate(array):
        ax.text(c, r, f"{value:g}", ha="center", va="center", color="white", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


fig, axes = plt.subplots(1, 6, figsize=(13, 2.6))
show_numbers(axes[0], x_small, "input 2×2")
for ax, (i, j) in zip(axes[1:5], [(0, 0), (0, 1), (1, 0), (1, 1)]):
    one_pixel = np.zeros_like(x_small)
    one_pixel[i, j] = x_small[i, j]
    show_numbers(ax, transposed_conv_by_hand(one_pixel, kernel, 2), f"stamp of pixel ({i},{j})")
show_numbers(axes[5], by_hand, "sum = output 5×5")
plt.show()

# %% [markdown]
# ### The output size
#
# The last stamp starts at `(n − 1) · stride` and is `kernel_size` wide, so with
# `padding="valid"` the output side is
#
# $$\text{out} = (n - 1)\cdot s + \max(k, s)$$
#
# (the `max` matters only for a kernel smaller than the stride: the stamps then
# leave gaps, and Keras keeps the last gap). With `padding="same"` Keras crops
# the result so that the output is exactly `stride` times the input:
# $\text{out} = n \cdot s$. That is what a generator wants: 4 → 8 → 16 → 32 → 64.
#
# Keras can tell us the output shape of a layer without running it
# (`compute_output_shape`); let us confirm the formula for a 4×4 input.

# %%
# NBVAL_CHECK_OUTPUT
for padding in ["valid", "same"]:
    for k, s in [(3, 2), (4, 2), (1, 2)]:
        layer = keras.layers.Conv2DTranspose(1, k, strides=s, padding=padding)
        out = layer.compute_output_shape((None, 4, 4, 1))  # Keras works out the shape without computing
        print(f"input 4×4, kernel {k}, stride {s}, padding={padding!r:8} -> output {out[1]}×{out[2]}")

# %% [markdown]
# ### Kernel 4 with stride 2: even overlap
#
# When the kernel size is not a multiple of the stride, some output pixels get
# more overlapping stamps than their neighbours. Feed in a flat image of ones and
# the result is not flat: it shows a **checkerboard**, a pattern you can see in
# the samples of badly designed GANs (Odena et al., 2016, "Deconvolution and
# checkerboard artifacts"). With kernel 4 and stride 2, every inner output pixel
# gets the same number of stamps: the *uneven overlap* is gone.

# %%
fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
for ax, k in zip(axes, [3, 4]):
    flat = keras.layers.Conv2DTranspose(1, k, strides=2, padding="same", use_bias=False, kernel_initializer="ones")
    overlap = np.asarray(flat(np.ones((1, 8, 8, 1), dtype="float32")))[0, :, :, 0]
    ax.imshow(overlap, cmap="magma", vmin=0, vmax=overlap.max())
    ax.set_title(f"kernel {k}, stride 2: stamps per pixel\n(values {overlap.min():g}…{overlap.max():g})", fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# Even overlap is not the same as "no grid", though: every stamp is a *learned*
# kernel, and a learned kernel can itself write a pattern that repeats every 2
# pixels. Section 4 measures that grid in the kit's own samples, and shows the
# alternative the kit offers, `upsampling="nearest"`.

# %% [markdown]
# ## 3 · The kit's generator, layer by layer
#
# `models.build_generator` stacks these ideas into a DCGAN-style generator
# (Radford et al., 2016):
#
# 1. a `Dense` layer turns `z` into 4·4·C numbers, reshaped to a 4×4 map
#    with C channels (C = 128 with the kit's default widths);
# 2. **blocks** that each double the size: `UpSampling2D` (repeat every
#    pixel 2×2, "nearest neighbour") → a 3×3 `Conv2D` → `BatchNormalization`
#    → `ReLU`, with fewer channels as the picture grows (the classic DCGAN
#    uses one `Conv2DTranspose` with stride 2 instead of the first two; section
#    4 compares them, and `upsampling="transpose"` builds that variant);
# 3. a 3×3 convolution to one grey channel, then `tanh`, which squeezes every
#    pixel into [−1, 1] — the same range as our real images.

# %%
G = models.build_generator(image_size=IMAGE_SIZE, channels=real.channels, latent_dim=LATENT_DIM)
G.summary()

# %% [markdown]
# The same information as a compact table we can check (nbval compares it on
# every run): the output shape after every layer, batch axis left out, and the
# number of weights each layer learns.

# %%
# NBVAL_CHECK_OUTPUT
print(f"{'layer':<22}{'type':<22}{'output shape':<18}{'parameters':>12}")
for layer in G.layers:
    shape = tuple(layer.output.shape[1:])
    print(f"{layer.name:<22}{type(layer).__name__:<22}{str(shape):<18}{layer.count_params():>12,}")
print(f"{'total':<62}{G.count_params():>12,}")

# %% [markdown]
# Two things to notice. First, the widths: the map gets *larger* (4 → 64) while
# the number of channels gets *smaller* (128 → 16), so the blocks do roughly
# comparable work (each upsampling block after the first costs about the same
# number of multiplications). Second, the parameter counts: the upsampling
# layers learn nothing (0 weights), and `conv_8x8` holds 3·3·128·128 = 147,456
# weights (no bias, because batch norm right after it adds its own shift);
# `latent_to_features`, which maps 64 numbers to 4·4·128 = 2,048, holds
# 64·2,048 = 131,072. Those two layers are more than half of G.

# %% [markdown]
# ### The code you read is the package's code
#
# There is no separate "teaching version" of G: the notebook calls the same
# function the training uses. Here is the heart of `models.build_generator`,
# printed from the installed package — the upsampling blocks and the output
# layer you just saw in the table.

# %%
source = inspect.getsource(models.build_generator)
start = source.find("    size = start")
print(source[start:] if start >= 0 else source)

# %% [markdown]
# ## 4 · What does an untrained G make?
#
# G starts with random weights, so it has learned nothing about brains yet. We
# feed the eight `z` vectors from section 1 through it. `training=False` means
# batch normalisation uses its stored statistics (still the initial 0 and 1)
# instead of the statistics of this batch.

# %%
# NBVAL_CHECK_OUTPUT
fake = np.asarray(G(z, training=False))
print("fake images:", fake.shape, "| all inside [-1, 1]:", bool(np.abs(fake).max() <= 1.0))

# %%
fig, axes = plt.subplots(2, N_SAMPLES, figsize=(1.6 * N_SAMPLES, 3.6))
for i in range(N_SAMPLES):
    axes[0, i].imshow(real.batch_images([picked[i]])[0, :, :, 0], cmap="gray", vmin=-1, vmax=1)
    axes[1, i].imshow(fake[i, :, :, 0], cmap="gray", vmin=-1, vmax=1)
    axes[0, i].axis("off")
    axes[1, i].axis("off")
axes[0, 0].set_title("real", fontsize=9, loc="left")
axes[1, 0].set_title("untrained G(z)", fontsize=9, loc="left")
plt.show()

# %% [markdown]
# Flat grey, with faint texture. The pixel histograms tell why: real slices use
# the whole range (a black background at −1 and bright tissue), while the
# untrained G's pixels huddle around 0, because its random weights are small and
# `tanh(0) = 0` is mid-grey.

# %%
fig, ax = plt.subplots(figsize=(6, 2.6))
ax.hist(real.batch_images(picked).ravel(), bins=50, range=(-1, 1), alpha=0.6, label="real", density=True)
ax.hist(fake.ravel(), bins=50, range=(-1, 1), alpha=0.6, label="untrained G", density=True)
ax.set_xlabel("pixel value")
ax.legend()
plt.show()

# %% [markdown]
# Let us stretch the contrast to see the texture: an untrained G already has
# a "handwriting" — here blotches and faint horizontal and vertical streaks
# left by repeating pixels 2×2 and smoothing them with one 3×3 kernel.
# Training turns most of the picture into anatomy — but, as the next section
# measures, not necessarily all of the texture.

# %%
fig, axes = plt.subplots(1, 4, figsize=(8, 2.2))
for ax, image in zip(axes, fake[:4, :, :, 0]):
    ax.imshow(image, cmap="gray")  # no vmin/vmax: stretch to the image's own range
    ax.set_title(f"{image.min():.3f} … {image.max():.3f}", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# G is a smooth function of `z`, even before training: walking in a straight
# line from one `z` to another changes the image gradually (all eight pictures
# share one contrast stretch, so you can compare them). After training this
# is what makes "latent walks" between two brain slices possible (notebook 06).

# %%
steps = np.linspace(0.0, 1.0, N_SAMPLES, dtype="float32")[:, None]
walk = np.asarray(G((1 - steps) * z[0] + steps * z[1], training=False))
fig, axes = plt.subplots(1, N_SAMPLES, figsize=(1.6 * N_SAMPLES, 1.8))
for ax, image, t in zip(axes, walk[:, :, :, 0], steps[:, 0]):
    ax.imshow(image, cmap="gray", vmin=walk.min(), vmax=walk.max())  # one shared contrast stretch
    ax.set_title(f"t = {t:.2f}", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ### The grid, measured: transposed convolution or nearest-neighbour upsampling?
#
# Kernel 4 with stride 2 removes the *uneven overlap* of section 2, and only
# that. Each output pixel of a stride-2 transposed convolution is made by one of
# four 2×2 "phases" of the learned kernel (which kernel weights land on it
# depends on whether its row and column are even or odd), and nothing forces the
# four phases to agree. Four such layers stacked can print a grid that repeats
# every 2, 4, 8 or 16 pixels. Odena et al. (2016) suggest another way up:
# **resize, then convolve** — repeat every pixel 2×2 (nearest neighbour), then
# apply an ordinary 3×3 convolution, whose one kernel is used at every position.
# The kit builds that with `upsampling="nearest"`.
#
# To compare the two we need a number. `grid_strength` (from the kit's
# failure-gallery script, `benchmarks/failure_gallery.py`) takes each image's
# fine detail — the image minus the mean of its 3×3 neighbourhood — and measures
# how much of it repeats every 4 pixels in both directions (period 2 included):
# about 0.004 for detail without any grid, 1 for a pure grid.

# %%
spec = importlib.util.spec_from_file_location("failure_gallery", config.REPO_ROOT / "benchmarks" / "failure_gallery.py")
failure_gallery = importlib.util.module_from_spec(spec)
spec.loader.exec_module(failure_gallery)
print(inspect.getsource(failure_gallery.grid_strength))

# %% [markdown]
# First, both generators untrained, on the same eight `z` (contrast stretched as
# above), and the grid strength of each row:

# %%
G_transpose = models.build_generator(image_size=IMAGE_SIZE, channels=real.channels, latent_dim=LATENT_DIM,
                                     upsampling="transpose")
untrained = {"transpose (kernel 4, stride 2)": np.asarray(G_transpose(z, training=False)),
             "nearest + 3×3 conv (the default)": fake}
fig, axes = plt.subplots(2, 4, figsize=(8, 4.4))
for row, (name, images) in zip(axes, untrained.items()):
    for ax, image in zip(row, images[:4, :, :, 0]):
        ax.imshow(image, cmap="gray")
        ax.axis("off")
    row[0].set_title(f"{name}: grid strength {failure_gallery.grid_strength(images):.3f}", fontsize=9, loc="left")
plt.show()

# %% [markdown]
# Untrained, the difference is plain: the transposed-convolution G prints a
# fine regular grid over the whole image; the nearest G makes blotches with
# faint streaks, and no grid. What matters is what is left after
# training. The kit's gallery script trained both generators with the same
# recipe, seed and number of steps, one argument apart (notebook 09 shows the
# whole gallery); its
# stored sample grids are shown here at the same scale as real training images,
# one column per class, with the grid strength of 64 samples of each.

# %%
gallery_dir = config.REPO_ROOT / "docs" / "gallery"
gallery = json.loads((gallery_dir / "gallery.json").read_text())
panels = {"real training images": ("real.png", gallery["real"]["grid_strength"])}
for case, title in (("transpose", "transpose, kernel 4 stride 2"), ("baseline", "nearest + 3×3 conv (the recipe)")):
    panels[title] = (f"{case}.png", gallery["cases"][case]["grid_strength"])
fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
for ax, (title, (file, strength)) in zip(axes, panels.items()):
    ax.imshow(pictures.from_png((gallery_dir / file).read_bytes())[..., 0], cmap="gray", vmin=0, vmax=255)
    ax.set_title(f"{title}\ngrid strength {strength:.3f}", fontsize=9)
    ax.axis("off")
steps = gallery["cases"]["baseline"]["steps"]
fig.suptitle(f"after the same {steps} training steps", fontsize=10)
plt.show()

# %% [markdown]
# After 900 steps both generators draw the outline of each level at the right
# size, with dark ventricles in the second column, under bright, blotchy
# interiors. Their textures differ. The transposed-convolution samples carry a
# fine, even grain, and their grid strength is twice that of real images (0.008
# against 0.004): kernel 4 with stride 2 overlaps evenly, and the layers still
# print a weak periodic pattern, which comes from the learned kernels. The
# nearest-neighbour samples score close to real images on grid strength (0.005),
# but they show short vertical and horizontal streaks instead — an artefact of
# their own, which the grid strength does not count because it does not repeat
# every few pixels.
# Neither is clean. The two are one argument apart: `upsampling="transpose"` or
# `"nearest"`, in `models.build_generator` and in `training.train`. The kit's
# default is `"nearest"`, chosen on the old recipe: there, switching to nearest
# upsampling gave the largest single FD drop of the measured ablation (1.14 →
# 0.40, `benchmarks/ablation.py`, table in `RESULTS.md`). Inside today's recipe
# the single-seed undo run went the other way — transposed convolutions FD 0.36
# against 0.79 for nearest, within the seed noise (FD 0.79–2.15 between seeds),
# with a larger collapse gap (0.087 against 0.060). So the choice rests on the
# weaker grid and the smaller collapse gap, not on FD.

# %% [markdown]
# ## 5 · Conditioning on a class
#
# Our slices come in four classes (how far up the head the slice sits). A
# *conditional* G takes the class as a second input, so we can ask for "a slice
# through the basal ganglia". The kit does it the simplest way that works well:
#
# 1. a `label_embedding` layer looks up a learned vector of 32 numbers for the
#    label (one row per class in a 4×32 table);
# 2. `z_and_label` concatenates it to `z`: 64 + 32 = 96 numbers;
# 3. the rest of G is unchanged.

# %%
G_cond = models.build_generator(
    image_size=IMAGE_SIZE, channels=real.channels, latent_dim=LATENT_DIM, num_classes=len(real.class_names)
)
print("classes:", real.class_names)

# %%
# NBVAL_CHECK_OUTPUT
for name in ["z", "label", "label_embedding", "label_vector", "z_and_label", "latent_to_features"]:
    layer = G_cond.get_layer(name)
    print(f"{name:<20}{type(layer).__name__:<20}{str(tuple(layer.output.shape[1:])):<12}{layer.count_params():>10,}")

# %% [markdown]
# Let us check that claim with the model itself: cut G open after
# `z_and_label` and look at what it holds for one `z` and label 2. The first
# 64 numbers are `z`; the last 32 are row 2 of the embedding table.

# %%
# NBVAL_CHECK_OUTPUT
cut = keras.Model(G_cond.inputs, G_cond.get_layer("z_and_label").output)
joined = np.asarray(cut([z[:1], np.array([[2]])]))[0]
table = np.asarray(G_cond.get_layer("label_embedding").embeddings)
print("embedding table:", table.shape)
print(f"first {LATENT_DIM} numbers are z:", np.allclose(joined[:LATENT_DIM], z[0]))
print("last 32 are row 2 of the table:", np.allclose(joined[LATENT_DIM:], table[2]))

# %% [markdown]
# Now the experiment the conditional G is made for: the **same** `z` with each of
# the four labels. Untrained, the label barely matters yet (its 32 numbers are a
# small part of 96 inputs, and nothing has taught G what they mean), so we also
# show how each image differs from the one for label 0. After training, the same
# `z` with different labels gives the "same" brain at different heights.

# %%
labels = np.arange(len(real.class_names))[:, None]
same_z = np.repeat(z[:1], len(labels), axis=0)
by_label = np.asarray(G_cond([same_z, labels], training=False))[:, :, :, 0]
fig, axes = plt.subplots(2, len(labels), figsize=(2.2 * len(labels), 4.6))
for i, name in enumerate(real.class_names):
    axes[0, i].imshow(by_label[i], cmap="gray")
    axes[0, i].set_title(f"label {i}: {name}", fontsize=7)
    difference = np.abs(by_label[i] - by_label[0])
    axes[1, i].imshow(difference, cmap="inferno", vmin=0, vmax=np.abs(by_label - by_label[0]).max() + 1e-9)
    axes[1, i].set_title(f"difference from label 0\nlargest: {difference.max():.4f}", fontsize=7)
for ax in axes.ravel():
    ax.axis("off")
plt.show()

# %% [markdown]
# ## What you learned
#
# - The latent vector `z` is a list of `LATENT_DIM` standard-normal numbers; G is a
#   function from that simple cloud of points to images.
# - A transposed convolution stamps a scaled kernel for every input pixel,
#   `stride` pixels apart, and sums the overlaps. Output side:
#   $(n-1)s + \max(k,s)$ with `"valid"` padding, $n\cdot s$ with `"same"`.
# - Kernel 4 with stride 2 avoids *uneven overlap*, and only that: a learned
#   kernel can still print a grid, and the gallery's transposed samples measure one (grid strength twice the real images').
#   `upsampling="nearest"` (resize, then a 3×3 convolution) avoids the
#   transposed convolution's grid; the grid strength measures the difference.
# - The kit's G: `Dense` → 4×4×128 → four (nearest 2×2 upsampling, 3×3 conv,
#   BatchNorm, ReLU) blocks → 3×3 conv → `tanh`; about half a million weights
#   for 64 px (`upsampling="transpose"` gives the classic DCGAN blocks).
# - An untrained G makes mid-grey, faintly textured images; it is already a
#   smooth function of `z`.
# - A conditional G concatenates a learned label embedding to `z`.

# %% [markdown]
# ## Exercises
#
# ### Exercise 1 · The size formula
#
# Write `transposed_output_size(input_size, kernel_size, stride, padding)` that
# returns the output side of a `Conv2DTranspose` (square input, `padding` is
# `"same"` or `"valid"`). The check compares your function with real Keras
# layers on ten cases, including a tricky one where the kernel is smaller than
# the stride.

# %%
def transposed_output_size(input_size, kernel_size, stride, padding):
    # YOUR CODE HERE: return an int
    return None


exercises.check_transposed_output_size(transposed_output_size)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def transposed_output_size(input_size, kernel_size, stride, padding):
#     if padding == "same":
#         return input_size * stride
#     return (input_size - 1) * stride + max(kernel_size, stride)
# ```
#
# </details>
#
# ### Exercise 2 · A generator for 32 px images
#
# MedMNIST images are small. Build a generator for 32×32 grey images with a
# latent vector of 64 numbers. How many upsampling blocks does it have, and
# why? (Look at its summary.)

# %%
G32 = None  # YOUR CODE HERE: models.build_generator(...)

exercises.check_generator_output_shape(G32, image_size=32, channels=1, latent_dim=64)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# G32 = models.build_generator(image_size=32, channels=1, latent_dim=64)
# G32.summary()
# ```
#
# Three blocks (`up_8x8`, `up_16x16`, `up_32x32`): it starts from 4×4 and each
# block doubles the side, 4 · 2³ = 32.
#
# </details>
#
# ### Exercise 3 · Count the weights
#
# How many parameters does `Conv2DTranspose(filters=64, kernel_size=4, strides=2,
# padding="same")` have when its input has 128 channels (with a bias, the Keras
# default)? Work it out on paper first, then check.

# %%
answer = None  # YOUR CODE HERE: a number, e.g. 3 * 3 * 10

exercises.check_conv_transpose_params(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Each of the 64 filters has a 4×4 kernel for every one of the 128 input
# channels, plus one bias: 4 · 4 · 128 · 64 + 64 = **131,136**. The stride
# changes where the stamps go, not how many weights there are. You can confirm
# it with Keras: build the layer with `layer.build((None, 8, 8, 128))`, then
# `layer.count_params()`.
#
# </details>
