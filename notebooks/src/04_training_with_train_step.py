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
# # 04 · Training a GAN with a custom `train_step`
#
# <!-- colab-badge -->
#
# Notebooks 02 and 03 built the two players: the generator **G** draws images
# from random vectors, the discriminator **D** scores how real an image looks.
# Here they play. We write out the heart of the kit — the `train_step` that
# Keras runs for every batch — and then use it to train a class-conditional GAN
# on brain MRI slices, watching the samples grow from grey blobs into brains.
#
# **Learning goals**
#
# - read a GAN `train_step` line by line: two `tf.GradientTape`s, one D update,
#   one G update, per batch;
# - compare the hinge, non-saturating BCE and WGAN-GP losses;
# - explain what DiffAugment, adaptive augmentation (ADA), spectral
#   normalisation and an EMA generator are for — and read in the run why ADA
#   keeps the augmentation almost off on this data;
# - know what mixed precision and XLA do on a GPU (and why the kit leaves them
#   off on a CPU);
# - read loss and health curves, and save a run for the next notebooks.
#
# **Time:** most of it is the training cell, which prints how long it took. The
# parameters cell picks a preset: `"lab"` (the default: 10 epochs, 750 steps,
# one log line per epoch) is sized for a 90-minute class on a 2-core CPU, and the
# stored outputs are such a run, on such a CPU, timed in the training cell;
# `"full"` is the recipe's 60 epochs (4,500 steps, six times as long:
# 16 minutes on a faster day of the same kind of CPU, 27 November). We have not
# measured this notebook on a GPU. Plus about 30 minutes of
# exercises (exercises 3–5 train six small runs of a minute or two each).

# %%
# setup-cell

# %% [markdown]
# ## Setup imports

# %%
import inspect
import time

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from keras import ops

import medgan_helpers
import medgan_helpers as mg
from medgan_helpers import (accel, callbacks, config, data, exercises, gan, losses, models, pictures, runs,
                            step_parts, training)

print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| medgan_helpers", medgan_helpers.__version__)

# %% [markdown]
# ## Parameters
#
# Every default comes from one place, the kit's recipe (`medgan_helpers/recipe.py`,
# read here through `training.default_config`); change any knob below. `PRESET`
# and `EPOCHS` are the main ones. Quick mode (`MEDGAN_QUICK=1`, used by the tests) asks for the
# recipe's small values: a tiny model on 512 images for 3 short epochs.
#
# To use a MedMNIST 2-D set instead of brain MRI, set `DATASET = "pneumoniamnist"`
# (or `"bloodmnist"`, `"dermamnist"`, … with `IMAGE_SIZE` 28, 64 or 128); it
# downloads once (on Colab; offline, see the README's troubleshooting).

# %% tags=["parameters"]
DATASET = "brain-mri"
IMAGE_SIZE = 64
PRESET = "lab"  # "lab": 10 epochs, one line per epoch, fits a class on a CPU; "full": the recipe's 60
RECIPE = training.default_config(quick=config.is_quick(), preset=PRESET)
EPOCHS = RECIPE["epochs"]
BATCH_SIZE = RECIPE["batch_size"]
LATENT_DIM = RECIPE["latent_dim"]
G_FILTERS, D_FILTERS = RECIPE["g_base_filters"], RECIPE["d_base_filters"]  # G's last / D's first block
MAX_FILTERS = RECIPE["max_filters"]
MAX_IMAGES = RECIPE["max_images"]  # None = the whole training split
LOSS = RECIPE["loss"]
AUGMENT = RECIPE["augment"]
SEED = 0

# %%
config.seed_everything(SEED)
real = data.load_dataset(DATASET, image_size=IMAGE_SIZE, split="train", seed=SEED)
real = training.quick_subset(real, MAX_IMAGES)  # evenly spaced; all of it when None
print(len(real), "training images of", real.class_names)

# %% [markdown]
# ## The training step, written out
#
# `keras.Model.fit` loops over the batches and calls `train_step(batch)` for
# each one. A GAN overrides it, because one batch means **two** updates:
#
# 1. **D's turn.** Draw latent vectors `z`, let G draw fakes, let D score a batch
#    of real and a batch of fake images, and take one optimizer step on D's
#    weights so that real scores go up and fake scores go down.
# 2. **G's turn.** Draw fresh fakes *inside* a gradient tape, let D score them,
#    and step G's weights so that D's score of the fakes goes up. The gradient
#    flows back *through* D into G — but only G's weights change.
# 3. **Bookkeeping.** Update the moving average of G (the "EMA generator") and
#    the running means of the losses that the progress bar shows.
#
# Here is that method, exactly as it is in `medgan_helpers/gan.py` (a test in
# `tests/test_drift.py` fails if the two ever differ). We subclass the kit's
# `gan.GAN`, which holds the settings and a few helpers of its own, and restate
# `train_step` so you can read — and change — it here. The pieces every model of
# the kit shares are plain functions, named where they are used: the losses and
# penalties in `losses`; latent noise, loss scaling and the moving average in
# `step_parts`. Follow the named tensors: `z` → `fake_images` → `real_logits` /
# `fake_logits` → `d_loss`, then a fresh `z` → `fake_images` →
# `fake_logits_for_g` → `g_loss`.

# %%
class GAN(gan.GAN):
    def train_step(self, batch):
        real_images, labels = self.unpack(batch)  # labels is None for an unconditional GAN
        batch_size = ops.shape(real_images)[0]
        G, D = self.generator, self.discriminator
        with_labels = (lambda x: x) if labels is None else (lambda x: [x, labels])

        # 1) Discriminator: score real images high and generated images low.
        for _ in range(self.d_steps):
            z = step_parts.latent_noise(batch_size, self.latent_dim, self.seed_generator)
            fake_images = G(with_labels(z), training=True)
            with tf.GradientTape() as tape:
                real_logits = D(with_labels(self.augment(real_images)), training=True)
                fake_logits = D(with_labels(self.augment(fake_images)), training=True)
                d_loss = self.d_loss_fn(real_logits, fake_logits)
                if self.gp_weight:
                    d_loss += self.gp_weight * losses.gradient_penalty(
                        D, real_images, fake_images, labels, seed=self.seed_generator)
                if self.r1_weight:
                    d_loss += self.r1_weight * losses.r1_penalty(
                        D, real_images, labels, every=self.r1_every, step=self.d_optimizer.iterations)
                scaled_loss = step_parts.scale_loss(d_loss, self.d_optimizer)
            d_grads = tape.gradient(scaled_loss, D.trainable_weights)
            self.d_optimizer.apply_gradients(zip(d_grads, D.trainable_weights))

        # 2) Generator: make the discriminator score fresh fakes high.
        z = step_parts.latent_noise(batch_size, self.latent_dim, self.seed_generator)
        with tf.GradientTape() as tape:
            fake_images = G(with_labels(z), training=True)
            fake_logits_for_g = D(with_labels(self.augment(fake_images)), training=True)
            g_loss = self.g_loss_fn(fake_logits_for_g)
            if self.diversity_weight:
                g_loss += self.diversity_weight * losses.mode_seeking_penalty(z, fake_images, labels)
            scaled_loss = step_parts.scale_loss(g_loss, self.g_optimizer)
        g_grads = tape.gradient(scaled_loss, G.trainable_weights)
        self.g_optimizer.apply_gradients(zip(g_grads, G.trainable_weights))

        # 3) Bookkeeping: follow G with its moving average, steer augmentation, report.
        step_parts.update_ema(self.ema_generator, G, self.ema_decay, step=self.g_optimizer.iterations)
        self.update_augment_p(real_logits)
        return self.update_metrics(d_loss, g_loss, real_logits, fake_logits, d_grads, g_grads)


# %% [markdown]
# A few things to notice:
#
# - `labels` is `None` for an unconditional GAN; `with_labels` then passes only
#   `z` / the images. For a conditional GAN both players see the class.
# - G's forward pass for D's turn happens *outside* the tape: D's update must not
#   (and does not) compute gradients for G.
# - `step_parts.scale_loss` divides by the number of devices (with several GPUs
#   each one sees a slice of the batch and the gradients are summed) and
#   multiplies by the loss scale under mixed precision (see below). On one CPU
#   it changes nothing.
# - `step_parts.latent_noise` (which draws `z`) and `self.augment` take their
#   randomness from the model's `keras.random.SeedGenerator`
#   (`self.seed_generator`), so a run is repeatable from its seed; with several
#   devices each one takes its own slice of one draw, so the devices do not all
#   generate from the same `z`.
# - The penalties run only when their weight is non-zero: `gp_weight` for
#   WGAN-GP, `r1_weight` for the R1 penalty, `diversity_weight` for the
#   mode-seeking term that punishes G for drawing the same image from different
#   latents of one class (a Python `if`, decided once when Keras traces the step,
#   not at every batch).
#
# The step calls only helpers for ideas this notebook explains. Here is every
# one of them, one idea each — first the input side:

# %%
for helper in (gan.GAN.unpack, step_parts.latent_noise, gan.GAN.augment, step_parts.scale_loss):
    print(inspect.getsource(helper))

# %% [markdown]
# the penalties (two on the gradient of D's score with respect to its *input*,
# one on how alike G's images of one class are):

# %%
for helper in (losses.gradient_penalty, losses.r1_penalty, losses.input_gradient_norm,
               losses.mode_seeking_penalty):
    print(inspect.getsource(helper))

# %% [markdown]
# and the bookkeeping after the two updates:

# %%
for helper in (step_parts.update_ema, gan.GAN.update_augment_p, gan.GAN.update_metrics, step_parts.gradient_norm):
    print(inspect.getsource(helper))

# %% [markdown]
# ## Three losses
#
# All three take D's raw scores ("logits", any real number; > 0 means "looks
# real"). Plotted against the logit, each curve is the price D pays for one image:

# %%
logits = np.linspace(-4, 4, 200).astype("float32")[:, None]
zero = np.zeros_like(logits)
curves = {
    "hinge: real": ops.relu(1 - logits), "hinge: fake": ops.relu(1 + logits),
    "BCE: real": ops.softplus(-logits), "BCE: fake": ops.softplus(logits),
    "WGAN: real": -logits, "WGAN: fake": logits,
}
fig, ax = plt.subplots(figsize=(7, 3.5))
for (name, curve), style in zip(curves.items(), ["-", "--"] * 3):
    ax.plot(logits[:, 0], np.asarray(curve)[:, 0], style, label=name)
ax.set(xlabel="D's logit for one image", ylabel="loss", ylim=(-4, 5))
ax.legend(ncol=3, fontsize=8)
plt.show()

# %% [markdown]
# Written out, with `r` = D's logits for real images and `f` = D's logits for fakes:
#
# | loss | D minimises | G minimises |
# |---|---|---|
# | BCE (non-saturating G) | mean softplus(−r) + mean softplus(f) | mean softplus(−f) |
# | hinge | mean relu(1 − r) + mean relu(1 + f) | −mean f |
# | WGAN-GP | mean f − mean r + λ·GP | −mean f |
#
# - **BCE** (the original GAN) is a classifier's cross-entropy. For G the kit uses
#   the *non-saturating* form, `mean(softplus(-fake_logits))`: it still gives G a
#   strong gradient when D easily spots the fakes (early in training).
# - **Hinge** (the kit's default) stops pushing D once a real image scores above
#   +1 or a fake below −1: D does not waste effort on images it already gets
#   right. G's hinge loss is simply `−mean D(G(z))`: raise D's score of the fakes.
# - **WGAN-GP** lets D (a "critic") output unbounded scores whose difference
#   estimates a distance between the real and fake distributions; a *gradient
#   penalty* keeps D's slope near 1. Its norm uses `sqrt(sum + 1e-12)` so that the
#   gradient stays finite even where the input gradient is exactly zero.
#
# **Reference values to read the curves with.** If D outputs 0 for every image —
# it cannot tell real from fake at all — its hinge loss is `relu(1) + relu(1) = 2.0`
# and its BCE loss `2·ln 2 ≈ 1.386` (`losses.CHANCE_D_LOSS`). A D loss that climbs to
# that value and stays there means D has stopped discriminating. That has two
# readings: D gave up while the fakes are still poor (G then gets no useful
# gradient), or G caught up (at the game's equilibrium D is at chance too).
# The health monitor below raises a "D at chance" alarm when it lasts several
# epochs; the samples and notebook 05's measurements tell the two apart.

# %%
print(inspect.getsource(losses.d_loss_hinge))
print(inspect.getsource(losses.g_loss_mean))
zeros = np.zeros((4, 1), "float32")
print("D loss when D outputs 0 everywhere — hinge:", float(losses.d_loss_hinge(zeros, zeros)),
      "| BCE:", round(float(losses.d_loss_bce(zeros, zeros)), 3))

# %% [markdown]
# ## DiffAugment: augmentation that G can see through
#
# With a few thousand images D can memorise the training set, and its scores
# stop helping G. DiffAugment (Zhao et al. 2020) augments **both** real and fake
# images every time D looks at them, with operations that are differentiable, so
# G's gradients flow through the augmentation. The kit's `"medical"` policy only
# uses changes that keep anatomy plausible: small shifts, a cut-out square, mild
# brightness and contrast, and no colour changes. Top row: real slices; bottom
# row: what D sees.
#
# Two cautions. **Augmentation can leak into G**: D only ever sees augmented
# images, so it cannot punish a G that draws shifted or cut-out brains itself —
# with strong, always-on augmentation G may learn to imitate the augmentation.
# **Augmentation also weakens D**: every augmented real image is harder to call
# real. That is why ADA (Karras et al. 2020) *steers* the augmentation
# probability `p` instead of fixing it: it raises `p` while D calls more than a
# target share of the real images real and lowers it otherwise: it watches
# `r_t = E[sign D(real)]`, and `r_t = 0.6` means D calls 80 % of the real images
# real ((1 + 0.6) / 2: 80 % score +1, 20 % score −1), a sign of overfitting; with `p < 1` a non-leaking augmentation
# is never forced on every image. In the kit: `ada_target=0.6`.
#
# **Flips** are off in `"medical"` because left and right differ in many scans
# (the heart, the liver, a lesion's side); the MNI brain template is nearly
# symmetric, so for it `augment="medical-flip"` is a reasonable choice.

# %%
batch = real.images[:: max(1, len(real) // 8)][:8]
augmented = np.asarray(gan.diff_augment(batch, AUGMENT, seed=SEED))
fig, axes = plt.subplots(2, 8, figsize=(12, 3.2))
for i in range(8):
    axes[0, i].imshow(batch[i, ..., 0], cmap="gray", vmin=-1, vmax=1)
    axes[1, i].imshow(augmented[i, ..., 0], cmap="gray", vmin=-1, vmax=1)
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## EMA: the generator we actually sample from
#
# G's weights jitter from step to step because D keeps moving. The kit keeps a
# second copy, `ema_generator`, whose weights follow G's slowly:
# `ema = decay · ema + (1 − decay) · w`. The decay ramps up as
# `(1 + step) / (10 + step)` until it reaches 0.999: 0.9 after 80 steps, 0.99
# after about 900, 0.999 only after about 9,000 — later than any run here, so
# the EMA copy averages over a window that grows with the run. `generate()` and the sample grids use this smoothed copy; it
# gives cleaner images at no training cost.
#
# ## Mixed precision and XLA (switched on by themselves on a GPU)
#
# `accel.configure()` ran in the setup cell. On a GPU of compute capability ≥ 7
# (Colab's T4 and newer) it sets Keras' `mixed_float16` policy: most layers then
# compute in float16 on the tensor cores (about 2× faster, half the memory) while
# the weights stay float32. Float16 gradients can underflow to zero, so
# `GAN.compile` wraps both optimizers in a `LossScaleOptimizer` — that is what
# `scale_loss` multiplies by — and the models' last layers (and all losses)
# compute in float32. It also turns on **XLA** (`jit_compile`), which fuses
# operations into bigger GPU kernels. On a CPU both are off: float16 is not
# faster there and XLA measured slower.

# %%
setup = accel.configure()
print("mixed precision:", setup.mixed_precision, "| XLA:", setup.xla, "| replicas:", setup.num_replicas)

# %% [markdown]
# ## Build the players and the GAN
#
# Everything is built inside the strategy's scope (it matters with several GPUs
# or a TPU; on one device the scope does nothing).
#
# `steps_per_execution` (the recipe's 16) lets `fit` run 16 training steps per
# call from Python into TensorFlow instead of one, so the host's work around a
# step (starting the compiled function, handing the losses back) is paid once
# per 16 steps. The math of each step is unchanged, and the callbacks below
# still run after every epoch; only a per-batch callback would see one call per
# 16 steps. `benchmarks/throughput.py` measures what it buys (README, "Benchmarks").

# %%
num_classes = len(real.class_names)
with setup.scope():
    G = models.build_generator(IMAGE_SIZE, real.channels, LATENT_DIM, num_classes,
                               base_filters=G_FILTERS, max_filters=MAX_FILTERS,
                               upsampling=RECIPE["upsampling"], conditioning=RECIPE["conditioning"])
    D = models.build_discriminator(IMAGE_SIZE, real.channels, num_classes,
                                   base_filters=D_FILTERS, max_filters=MAX_FILTERS,
                                   spectral_norm=RECIPE["spectral_norm"], minibatch_std=RECIPE["minibatch_std"])
    model = GAN(G, D, latent_dim=LATENT_DIM, num_classes=num_classes, augment=AUGMENT,
                ada_target=RECIPE["ada_target"], ema_decay=RECIPE["ema_decay"],
                r1_weight=RECIPE["r1_weight"], seed=SEED, class_names=real.class_names)
    g_optimizer, d_optimizer = (keras.optimizers.Adam(lr, beta_1=RECIPE["beta_1"], beta_2=RECIPE["beta_2"])
                                for lr in (RECIPE["g_lr"], RECIPE["d_lr"]))
    model.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer, loss=LOSS, jit_compile=setup.xla,
                  steps_per_execution=RECIPE["steps_per_execution"])

# %% [markdown]
# ## Train
#
# The callbacks do the watching:
#
# - `SampleGrid` draws the **same** 16 latent vectors after every epoch (one
#   column per class) — the picture below updates in place, and each epoch's grid
#   is saved as a PNG in the run folder;
# - `TrainingHealth` prints one line per epoch: D's loss and its accuracy on real
#   and on fake images, gradient norms, and sample diversity compared with the
#   real images — overall and **for each class** (a class whose samples all look
#   alike raises the *mode collapse* alarm even when the other classes keep the
#   average up), and a "D at chance" alarm when D's loss sits at 2.0 for several
#   epochs;
# - `NaNGuard` stops and rolls back to the last good weights if a loss turns NaN;
# - `keras.callbacks.BackupAndRestore` saves a checkpoint after every epoch: if
#   the kernel dies or Colab disconnects, run the notebook again and training
#   continues from the last finished epoch.
#
# Keras' own log is off in the `"lab"` preset (`verbose=0`), so each epoch prints
# one line, the health monitor's; `verbose=2` adds Keras' line of running means,
# `verbose=1` its live progress bar.

# %%
tfds = data.to_tf_dataset(real, batch_size=BATCH_SIZE, seed=SEED)
run = runs.RunFolder.new(DATASET, IMAGE_SIZE)  # artifacts/runs/<dataset>-<size>px-<time>-<id>/
run.write_config(dataset=DATASET, image_size=IMAGE_SIZE, knobs=RECIPE, status="running", notebook="04")
sample_grid = callbacks.SampleGrid(run.samples_dir, n=16, display=True)
health = callbacks.TrainingHealth(real=real, loss=LOSS, log_path=run / "health.json")
watchers = [sample_grid, health, callbacks.NaNGuard(),
            keras.callbacks.BackupAndRestore(str(run.backup_dir), double_checkpoint=True)]
start = time.time()
history = model.fit(tfds, epochs=EPOCHS, callbacks=watchers, verbose=0 if PRESET == "lab" else 2, shuffle=False)
print(f"{EPOCHS} epochs in {(time.time() - start) / 60:.1f} min")

# %% [markdown]
# ## The samples, epoch by epoch
#
# The same latent vectors and labels at a few moments of training. In the
# stored run, epoch 1 is grey noise with a faint bright patch in the middle;
# by epoch 7 every column has the outline of its level — the separate lobes of
# cerebellum and brainstem, the wide slice of the basal ganglia with a dark
# ventricle in the middle, the oval of the centrum semiovale, the small top
# slice of the vertex — and later epochs sharpen the edges and change mostly
# the inside texture.

# %%
saved = sorted(sample_grid.grids)  # epoch -> grid picture
epochs_shown = sorted(set(saved[:: max(1, len(saved) // 3)] + [saved[-1]]))
fig, axes = plt.subplots(1, len(epochs_shown), figsize=(3.2 * len(epochs_shown), 3.4))
for ax, epoch in zip(np.atleast_1d(axes), epochs_shown):
    ax.imshow(sample_grid.grids[epoch], cmap="gray")
    ax.set_title(f"epoch {epoch}")
    ax.axis("off")
plt.show()

# %% [markdown]
# Look down one column and compare with the real grid below: are the samples
# of a class as varied as real slices of that class? If all four looked the
# same, that would be **mode collapse** inside the class; the health monitor
# measures it for you (its per-class diversity curve is plotted further down).
# In the stored run the shapes and sizes vary within each column much as the
# real ones do. The texture is where the generated slices fall short: they are
# brighter and flatter than real MRI, with speckles and short straight streaks
# where real slices are smooth, and the dark rim of cortex and the folds that
# separate grey from white matter in the real slices are mostly missing.
# Notebook 05 measures diversity per class (MS-SSIM), fidelity and coverage.

# %% [markdown]
# The last grid beside real images, one column per class, at the same size
# (four real slices of each class, spread over the class's range of positions):

# %%
per_class = [np.flatnonzero(real.labels == k) for k in range(num_classes)]
picks = np.stack([rows[np.linspace(0, len(rows) - 1, 4).astype(int)] for rows in per_class], 1)
real_grid = pictures.image_grid(real.images[picks.ravel()], columns=num_classes)
fig, axes = plt.subplots(1, 2, figsize=(9, 4.6))
for ax, grid, title in zip(axes, [sample_grid.grids[saved[-1]], real_grid],
                           [f"generated (epoch {saved[-1]})", "real"]):
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Loss and health curves
#
# GAN losses do not go to zero: the two players push against each other. Read
# D's loss against its chance level (the dotted line, 2.0 for hinge): below it,
# D still tells real from fake and G gets a signal; stuck at it, D has given up.
# D's loss falling towards 0 while G's climbs means the opposite (D wins, G stops
# learning). The right panel shows each class's sample diversity relative to the
# real images of that class: a class far below 1 is collapsing.
#
# In the stored run (the `"lab"` preset) D's loss climbs from about 1.15 to
# about 1.7 and is still rising at the end, while D's accuracy on real and on
# fake images falls towards one half (about 0.6–0.7 in the last epochs): D is
# moving towards chance. The monitor's "D at chance" alarm does not fire yet (in
# the 60-epoch `"full"` run D's loss reaches 1.95 and it fires in the last
# epochs). Yet the samples kept improving and every class's diversity rose to
# about 0.8–1.0 of real. D's loss near chance has two
# readings — D gave up, or G caught up (the game's equilibrium also puts D at
# chance) — and the loss alone cannot tell them apart; the samples and the
# measurements of notebook 05 can. The recipe before 2026-11 also sat at
# about 1.96, with two classes collapsed and grainy samples: there, D had
# given up (`RESULTS.md` has the measured story).

# %%
h = history.history
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
axes[0].plot(h["d_loss"], label="D loss")
axes[0].plot(h["g_loss"], label="G loss")
axes[0].axhline(losses.CHANCE_D_LOSS.get(LOSS, np.nan), color="grey", ls=":", label="D at chance")
axes[1].plot(h["d_real_acc"], label="D accuracy on real")
axes[1].plot(h["d_fake_acc"], label="D accuracy on fake")
for name in real.class_names:
    axes[2].plot([(r["class_diversity_ratio"] or {}).get(name, np.nan) for r in health.records], label=name)
axes[2].axhline(1.0, color="grey", lw=0.8)
for ax, title in zip(axes, ["losses", "D accuracy", "diversity per class / real"]):
    ax.set(title=title, xlabel="epoch")
    ax.legend(fontsize=7)
plt.show()
print(callbacks.TrainingHealth.describe(health.records[-1]))

# %% [markdown]
# ## G versus its moving average
#
# The same latent vectors through the raw generator (top) and through the EMA
# generator (bottom). After a long, calm run like this one the two rows are
# nearly the same picture; the EMA copy differs most early in training and
# when G's weights swing from step to step (exercise 5 measures what it changes).

# %%
z = model.sample_latent(8, seed=1)
labels = np.arange(8) % num_classes
raw = np.asarray(model.generator([z, labels[:, None]], training=False))
smooth = model.generate_from_latent(z, labels)
plt.figure(figsize=(12, 3.2))
plt.imshow(pictures.image_grid(np.concatenate([raw, smooth]), columns=8), cmap="gray")
plt.axis("off")
plt.show()

# %% [markdown]
# ## Save the run
#
# `runs.save_gan` writes the weights (the EMA generator's on their own, and every
# weight with both optimizers' state), the settings that rebuild the two
# networks, and the history into the run folder, and marks the run finished.
# Notebooks 05 (evaluation) and 06 (the interactive sampler) pick up the newest
# run from there. Loading it back gives a model that draws the very same images
# and can keep training.

# %%
runs.save_gan(model, run, history=history, steps=int(model.g_optimizer.iterations.numpy()))
print("saved to runs/" + run.path.name)
print(sorted(p.name for p in run.path.iterdir()))

# %%
# NBVAL_CHECK_OUTPUT
reloaded = runs.load_gan(run.path)
same = np.array_equal(reloaded.generate(8, seed=0), model.generate(8, seed=0))
print("same images after loading:", same)
print("newest run is this one:", runs.latest_run(dataset=DATASET, image_size=IMAGE_SIZE) == run)

# %% [markdown]
# ## What you learned
#
# - A GAN's `train_step` makes **two** optimizer steps per batch, each with its own
#   `tf.GradientTape`: D learns to separate real from fake, then G learns to fool
#   the updated D, with gradients that flow through D.
# - Hinge loss + spectral normalisation is a calm default; BCE needs the
#   non-saturating G loss; WGAN-GP needs a (safely computed) gradient penalty.
# - DiffAugment lets D see augmented real *and* fake images, which keeps it from
#   memorising a small dataset; the `"medical"` policy avoids flips and colour.
# - The EMA generator is what we sample from; mixed precision (with loss scaling)
#   and XLA switch on by themselves on a GPU.
# - Sample grids with fixed latents, loss curves and health numbers tell you
#   whether training is going well; a run is saved, reloaded and resumed.
#
# ## Exercises
#
# **1. Hinge by hand.** D gives two real images the logits `[2.0, -0.5]` and two
# fakes the logits `[0.5, -3.0]`. What is D's hinge loss? Work it out on paper.

# %%
my_hinge = None  # your number
exercises.check_hinge_loss(my_hinge if my_hinge is not None else float("nan"))

# %% [markdown]
# <details><summary>Solution</summary>
#
# `mean(relu(1 - [2.0, -0.5])) + mean(relu(1 + [0.5, -3.0])) = mean([0, 1.5]) + mean([1.5, 0]) = 0.75 + 0.75 = 1.5`.
# Check with `float(losses.d_loss_hinge(np.array([[2.0], [-0.5]]), np.array([[0.5], [-3.0]])))`.
# </details>
#
# **2. The non-saturating G loss.** Write `my_g_loss(fake_logits)` for the BCE
# generator: G wants D to call its fakes real.

# %%
def my_g_loss(fake_logits):
    return ops.mean(fake_logits) * 0  # replace with your loss


exercises.check_generator_loss(my_g_loss)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_g_loss(fake_logits):
#     return ops.mean(ops.softplus(-fake_logits))   # = -mean(log(sigmoid(fake_logits)))
# ```
# The saturating form `mean(log(1 - sigmoid(x)))` has almost no gradient when D
# confidently rejects the fakes (`x` very negative) — exactly when G needs it most.
# </details>
#
# The next three exercises change the training and measure what the change
# does, each with a number the kit computes. They train small runs of their own
# — 1,200 brain slices at 32 px, 10 epochs (375 steps; quick mode: 800 slices,
# 6 epochs) — a minute or two each on a 2-core CPU.

# %%
EX_IMAGES = training.quick_subset(data.load_dataset(DATASET, image_size=32, split="train", seed=SEED),
                                  config.quick_or(1200, 800))
EX_KNOBS = {**RECIPE, "epochs": config.quick_or(10, 6), "max_images": None, "seed": SEED}
EX_RUN = {"verbose": 0, "display": False, "resume": False}  # train() options: quiet, always a fresh run
print(len(EX_IMAGES), "images of", EX_IMAGES.image_size, "px;", EX_KNOBS["epochs"], "epochs")

# %% [markdown]
# Everything this notebook did by hand — build G and D, compile, the callbacks,
# the run folder, saving — is one call of the kit's front door, `mg.train`
# (`import medgan_helpers as mg`), which the exercises use. One epoch of the
# exercise images, to see it work:

# %%
one_epoch = mg.train(EX_IMAGES, **{**EX_KNOBS, "epochs": 1}, **EX_RUN)
print(one_epoch)

# %% [markdown]
# **3. R1 instead of spectral normalisation.** Without spectral normalisation
# nothing stops D from making its score very steep around the real images. The
# R1 penalty (Mescheder et al. 2018) adds $\tfrac{\gamma}{2}\,\mathbb{E}\lVert
# \nabla_x D(x)\rVert^2$ on real images to D's loss (`r1_weight` = γ, computed
# every `r1_every`-th step: `losses.r1_penalty`, printed above). Train two runs
# with `spectral_norm=False` — one with `r1_weight=10`, one without — everything
# else as in `EX_KNOBS`. The check measures D's mean gradient norm at the real
# images, with the kit's `losses.input_gradient_norm`, and passes when R1 has lowered
# it by at least 30 %.

# %%
with_r1, without_r1 = None, None  # two results of mg.train(EX_IMAGES, ...)
exercises.check_r1_effect(with_r1, without_r1, EX_IMAGES)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# with_r1 = mg.train(EX_IMAGES, **{**EX_KNOBS, "spectral_norm": False, "r1_weight": 10.0}, **EX_RUN)
# without_r1 = mg.train(EX_IMAGES, **{**EX_KNOBS, "spectral_norm": False, "r1_weight": 0.0}, **EX_RUN)
# exercises.check_r1_effect(with_r1, without_r1, EX_IMAGES)
# ```
# R1 is the other common way to keep D smooth: a soft penalty, measured at the
# real images only, instead of a hard bound on every layer (notebook 03).
# </details>
#
# **4. The least-squares GAN.** LSGAN (Mao et al. 2017) replaces the logistic
# losses with squared distances to targets — 1 for real, 0 for fake:
# D minimises $\tfrac12\mathbb{E}[(D(x)-1)^2] + \tfrac12\mathbb{E}[D(G(z))^2]$,
# G minimises $\tfrac12\mathbb{E}[(D(G(z))-1)^2]$, with $D$ the raw score (no
# sigmoid). Write the two losses as functions of logits, like `losses.d_loss_hinge`,
# then build a GAN on `EX_IMAGES` (32 px, the widths of `RECIPE`), compile it with
# `d_loss_fn=` and `g_loss_fn=` and fit it for `EX_KNOBS["epochs"]` epochs. The
# check compares your losses with the formulas and measures your trained D's
# mean score on real and on generated images.

# %%
def lsgan_d_loss(real_logits, fake_logits):
    return ops.mean(real_logits) * 0  # replace with your loss


def lsgan_g_loss(fake_logits):
    return ops.mean(fake_logits) * 0  # replace with your loss


lsgan = None  # build, compile with your losses, and fit
exercises.check_lsgan(lsgan_d_loss, lsgan_g_loss, lsgan, EX_IMAGES)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def lsgan_d_loss(real_logits, fake_logits):
#     real, fake = ops.cast(real_logits, "float32"), ops.cast(fake_logits, "float32")
#     return 0.5 * ops.mean(ops.square(real - 1.0)) + 0.5 * ops.mean(ops.square(fake))
#
#
# def lsgan_g_loss(fake_logits):
#     return 0.5 * ops.mean(ops.square(ops.cast(fake_logits, "float32") - 1.0))
#
#
# k = len(EX_IMAGES.class_names)
# lsgan = GAN(models.build_generator(32, 1, LATENT_DIM, k, base_filters=G_FILTERS, max_filters=MAX_FILTERS),
#             models.build_discriminator(32, 1, k, base_filters=D_FILTERS, max_filters=MAX_FILTERS),
#             latent_dim=LATENT_DIM, num_classes=k, seed=SEED)
# lsgan.compile(g_optimizer=keras.optimizers.Adam(RECIPE["g_lr"], beta_1=RECIPE["beta_1"]),
#               d_optimizer=keras.optimizers.Adam(RECIPE["d_lr"], beta_1=RECIPE["beta_1"]),
#               d_loss_fn=lsgan_d_loss, g_loss_fn=lsgan_g_loss)
# lsgan.fit(data.to_tf_dataset(EX_IMAGES, batch_size=BATCH_SIZE, seed=SEED), epochs=EX_KNOBS["epochs"], verbose=0)
# exercises.check_lsgan(lsgan_d_loss, lsgan_g_loss, lsgan, EX_IMAGES)
# ```
# A hinge or WGAN critic can push its scores as far as it likes; the
# least-squares D is pulled to its targets and no further, which is what keeps
# its gradients for G finite. (Reference values: a D that outputs 0 for every
# image has LSGAN loss ½; one that outputs ½ for every image — the optimum once
# G matches the data — has ¼.)
# </details>
#
# **5. An ablation, read against the noise.** Does the EMA generator (or the
# augmentation) help *in this run*? Train the recipe twice with two seeds
# (`SEED` and `SEED + 1`), and once with one component off and the first seed
# (`ema_decay=None` or `augment=None`). Measure FD and coverage of each in the
# kit's feature space — `exercises.nb04.fidelity_of(result, EX_IMAGES, extractor)`
# with `extractor = evaluation.feature_extractor(EX_IMAGES, ...)`. Report two
# numbers: the ablation's effect on FD (FD without the component minus FD with
# it, same seed) and the seeds' spread (the size of the FD difference between
# the two seeds of the unchanged recipe). Then compare the same two quantities
# for coverage, and give your reading: `"beyond noise"` when the effect is
# larger than the spread in FD *and* in coverage, else `"within noise"`. The
# check tells you how to compute a wrong number, never the number itself.

# %%
effect_fd, spread_fd, reading = None, None, None  # your two numbers and "beyond noise" / "within noise"
recipe_run, recipe_other_seed, ablated_run, extractor = None, None, None, None  # your three runs and the extractor
exercises.check_ablation(effect_fd, spread_fd, reading, recipe_run, recipe_other_seed, ablated_run, EX_IMAGES, extractor)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from medgan_helpers import evaluation
#
# extractor = evaluation.feature_extractor(EX_IMAGES, epochs=evaluation.settings(config.is_quick())["feature_epochs"])
# recipe_run = mg.train(EX_IMAGES, **EX_KNOBS, **EX_RUN)
# recipe_other_seed = mg.train(EX_IMAGES, **{**EX_KNOBS, "seed": SEED + 1}, **EX_RUN)
# ablated_run = mg.train(EX_IMAGES, **{**EX_KNOBS, "ema_decay": None}, **EX_RUN)
# scores = {name: exercises.nb04.fidelity_of(run, EX_IMAGES, extractor)
#           for name, run in (("recipe", recipe_run), ("other seed", recipe_other_seed), ("ablated", ablated_run))}
# print(scores)
# effect_fd = scores["ablated"]["fd"] - scores["recipe"]["fd"]
# spread_fd = abs(scores["other seed"]["fd"] - scores["recipe"]["fd"])
# effect_cov = scores["ablated"]["coverage"] - scores["recipe"]["coverage"]
# spread_cov = abs(scores["other seed"]["coverage"] - scores["recipe"]["coverage"])
# reading = "beyond noise" if abs(effect_fd) > spread_fd and abs(effect_cov) > spread_cov else "within noise"
# exercises.check_ablation(effect_fd, spread_fd, reading, recipe_run, recipe_other_seed, ablated_run, EX_IMAGES, extractor)
# ```
# In runs this short, two seeds of the *same* recipe can differ in FD by more
# than switching a component off does: a single pair of runs says little. (The
# EMA does not change training at all — only which weights are sampled — so
# `ema_decay=None` samples exactly the raw G of the first run. After 375 steps
# the kit's ramped decay is about 0.98, an average over roughly the last 40
# steps, so it lags G a little.) `benchmarks/quality.py` compares recipes over
# three seeds.
# </details>
