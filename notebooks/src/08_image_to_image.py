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
# # 08 · Image-to-image translation
#
# <!-- colab-badge -->
#
# Notebooks 02–07 drew images from random noise. In the clinic, GANs are used
# far more often to turn one image into another: MR into CT, a low-dose scan into
# a full-dose one, a coarse image into a fine one. Here we build **pix2pix**
# (Isola et al. 2017) — a U-Net generator, a discriminator that judges patches
# *and sees the input*, and a `train_step` with an L1 + adversarial loss — and train
# it on two tasks: grey/white-matter maps → T1 MRI, and 4× super-resolution. We
# compare it honestly with the same U-Net trained with L1 alone and with bicubic
# upsampling, and then we measure its main risk: detail that is **not in the patient**.
#
# **Learning goals**
#
# - build paired data: the same slice through a T1 volume and its tissue maps;
# - read a U-Net (encoder, bottleneck, skip connections) and a PatchGAN that is
#   conditioned on the input;
# - read pix2pix's `train_step`: D sees (input, output) pairs; G's loss is
#   adversarial + λ·L1;
# - compare methods with PSNR, SSIM, FD and sharpness — and see why PSNR rewards blur;
# - measure hallucination: train on three anatomical levels, apply to the fourth,
#   look at error maps and put a number on invented detail;
# - say what that means for clinical use.
#
# **Time:** about 5 minutes on a 2-core CPU with the default settings (four short
# trainings; read on while they run; not yet timed on a GPU); plus 20 minutes of
# exercises.

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
from medgan_helpers import accel, callbacks, config, data, evaluation, exercises, models, pix2pix, pix2pix_models, runs, step_parts
from medgan_helpers.evaluation import image_quality

print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| medgan_helpers", medgan_helpers.__version__)

# %% [markdown]
# ## Parameters
#
# The defaults come from the pix2pix recipe, `recipe.Pix2PixConfig` (read here through `pix2pix.knobs`; the benchmark trains each model for
# 12 epochs, 1 800 steps; this notebook for 6). `LAMBDA` is the weight λ of the
# L1 term (100 in the pix2pix paper). `HELD_OUT_LEVEL` is the anatomical level the
# super-resolution model never sees (0 = cerebellum / brainstem). Quick mode
# (`MEDGAN_QUICK=1`, the tests) trains tiny models on 256 pairs for 2 epochs.
# `PRESET` comes from the environment: the stored outputs are `"full"`;
# `python3 kit.py run` uses `"lab"` (4 epochs and a smaller evaluation) to fit its
# time budget.

# %% tags=["parameters"]
IMAGE_SIZE = 64  # targets; the super-resolution inputs are IMAGE_SIZE // 4
PRESET = config.preset()  # "full", "lab" (the main job) or "quick" (the tests)
RECIPE = pix2pix.knobs(quick=PRESET == "quick")
EPOCHS = {"full": 6, "lab": 4, "quick": RECIPE["epochs"]}[PRESET]
LAMBDA = RECIPE["l1_weight"]
LOSS = RECIPE["loss"]  # the kit's "bce" pair (as in the paper) or "hinge"
HELD_OUT_LEVEL = 0
SEED = 0
KNOBS = {**RECIPE, "epochs": EPOCHS, "l1_weight": LAMBDA, "loss": LOSS, "seed": SEED}
EVAL = evaluation.settings(preset=PRESET)

# %% [markdown]
# ## Paired data: one plane, three volumes
#
# `brain-mri-pairs` takes *the very planes* of `brain-mri` (same seed, same
# train/val/test slice blocks) and resamples each one through three volumes that
# ship with `nilearn`: the MNI152 T1 template and its grey- and white-matter
# probability maps. So every target is a `brain-mri` image, and every input is
# exactly aligned with it. Two tasks:
#
# - **tissue → T1**: the input has two channels (GM, WM probability), the target is T1;
# - **super-resolution**: the input is the T1 slice reduced 4× by averaging 4×4
#   blocks (16 px), the target is the 64 px slice.

# %%
# NBVAL_CHECK_OUTPUT
config.seed_everything(SEED)
tissue_train = data.load_dataset("brain-mri-pairs", IMAGE_SIZE, "train", seed=SEED)
tissue_test = data.load_dataset("brain-mri-pairs", IMAGE_SIZE, "test", seed=SEED)
sr_train = data.load_dataset("brain-mri-pairs", IMAGE_SIZE, "train", seed=SEED, task="super-resolution")
sr_test = data.load_dataset("brain-mri-pairs", IMAGE_SIZE, "test", seed=SEED, task="super-resolution")
for pairs in (tissue_train, tissue_test, sr_train, sr_test):
    print(pairs)

# %% [markdown]
# One test plane per anatomical level: the two tissue maps, the T1 slice, and the
# 16 px input of the super-resolution task (shown at the same size, pixels as blocks).

# %%
picks = [int(np.flatnonzero(tissue_test.labels == level)[75]) for level in range(4)]
rows = {"grey matter": tissue_test.input_images[picks, ..., 0], "white matter": tissue_test.input_images[picks, ..., 1],
        "T1 (target)": tissue_test.target_images[picks, ..., 0],
        "16 px input": np.kron(sr_test.input_images[picks, ..., 0], np.ones((1, 4, 4)))}
fig, axes = plt.subplots(4, 4, figsize=(8, 8.4))
for r, (name, images) in enumerate(rows.items()):
    for c in range(4):
        axes[r, c].imshow(images[c], cmap="gray", vmin=-1, vmax=1)
        axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(name)
for c in range(4):
    axes[0, c].set_title(tissue_test.class_names[c], fontsize=9)
plt.show()

# %% [markdown]
# The maps and the T1 come from the same 152 brains, so the pairing is exact —
# better than two real scans of one patient ever are (patients move between
# scans, and scanners distort differently). The card says so:

# %%
print("\n".join(tissue_train.card().preprocessing))

# %% [markdown]
# ## The generator: a U-Net
#
# The encoder halves the image four times (64 → 32 → 16 → 8 → 4) with strided
# convolutions; the decoder doubles it back. A plain encoder–decoder would have to
# squeeze *where* every edge is through the 4×4 bottleneck. The U-Net's **skip
# connections** hand each encoder level's features straight across to the decoder
# level of the same size, where they are concatenated (`skip_…` layers): the
# bottleneck decides *what* goes where, the skips say *exactly where*.

# %%
G = pix2pix_models.build_unet(IMAGE_SIZE, in_channels=2, out_channels=1,
                                      base_filters=KNOBS["g_base_filters"], max_filters=KNOBS["max_filters"])
for name, shape in models.layer_shapes(G):
    if name.startswith(("source", "down_lrelu", "up_relu", "skip", "tanh")):
        print(f"{name:<20} {shape}")
print(f"{G.count_params():,} parameters")

# %%
# NBVAL_CHECK_OUTPUT
shapes = models.layer_shapes(G)
skips = [name for name, _ in shapes if name.startswith("skip_")]
bottleneck = [shape for name, shape in shapes if name.startswith("down_lrelu")][-1]
print("skip connections:", len(skips), "| bottleneck:", bottleneck[:2], "| output:", G.output.shape[1:])

# %% [markdown]
# For super-resolution the input is 16 px: the U-Net first upsamples it
# bicubically to 64 px (a `Resizing` layer) and, with `residual=True`, adds a
# learned correction to that bicubic picture — it only has to learn what bicubic
# gets wrong.
#
# ## The discriminator: a PatchGAN that sees the input
#
# D gets the input and an output (real or generated) **concatenated** along the
# channels: it judges "is this a real T1 *for these tissue maps*?", not just "is
# this a real T1?". Otherwise G could paint any realistic brain. And it returns a
# map of logits, one per overlapping 34×34 patch, instead of one number: every
# patch must look real, which pushes G towards sharp local texture.

# %%
D = pix2pix_models.build_patch_discriminator(IMAGE_SIZE, 2, 1, base_filters=KNOBS["d_base_filters"],
                                                     max_filters=KNOBS["max_filters"], n_layers=KNOBS["n_layers"])
print("inputs:", [tuple(t.shape[1:]) for t in D.inputs], "-> logits:", tuple(D.output.shape[1:]))

# %% [markdown]
# ## The training step, written out
#
# Per batch of `(inputs, targets)` pairs:
#
# 1. **D's turn.** G translates the inputs; D scores (input, real target) pairs high
#    and (input, G(input)) pairs low, with the kit's loss functions from notebook 04.
# 2. **G's turn.** G translates again inside the tape. Its loss has two parts:
#    `λ · L1` (be close to the target, pixel by pixel) and the adversarial term
#    (make D call the pair real). L1 alone gives the *average* of all plausible
#    answers — blur; the adversarial term pushes towards outputs that look real.
# 3. **Bookkeeping**, shared with notebook 04's GAN: the EMA generator and the metrics.
#
# Here is that method, exactly as in `medgan_helpers/pix2pix.py` (a test fails if
# the two drift apart). With `discriminator=None` the same step is the **L1-only
# baseline**: no D, no adversarial term.

# %%
class Pix2Pix(pix2pix.Pix2Pix):
    def train_step(self, batch):
        inputs, targets = self.unpack(batch)
        G, D = self.generator, self.discriminator  # D is None for the L1-only baseline

        # 1) Discriminator: (input, real target) should score high, (input, G(input)) low.
        if D is not None:
            fakes = G(inputs, training=True)
            with tf.GradientTape() as tape:
                real_logits = D([inputs, targets], training=True)
                fake_logits = D([inputs, fakes], training=True)
                d_loss = self.d_loss_fn(real_logits, fake_logits)
                scaled_loss = step_parts.scale_loss(d_loss, self.d_optimizer)
            d_grads = tape.gradient(scaled_loss, D.trainable_weights)
            self.d_optimizer.apply_gradients(zip(d_grads, D.trainable_weights))

        # 2) Generator: stay close to the target pixel by pixel (L1) and fool D.
        with tf.GradientTape() as tape:
            fakes = G(inputs, training=True)
            l1_loss = ops.mean(ops.abs(targets - ops.cast(fakes, "float32")))
            g_loss = self.l1_weight * l1_loss
            if D is not None:
                fake_logits_for_g = D([inputs, fakes], training=True)
                g_adversarial = self.g_loss_fn(fake_logits_for_g)
                g_loss += g_adversarial
            scaled_loss = step_parts.scale_loss(g_loss, self.g_optimizer)
        g_grads = tape.gradient(scaled_loss, G.trainable_weights)
        self.g_optimizer.apply_gradients(zip(g_grads, G.trainable_weights))

        # 3) Bookkeeping: follow G with its moving average, report.
        step_parts.update_ema(self.ema_generator, G, self.ema_decay, step=self.g_optimizer.iterations)
        values = {"l1": l1_loss, "g_loss": g_loss, "g_grad_norm": step_parts.gradient_norm(g_grads, self.g_optimizer)}
        if D is not None:
            values.update(self.discriminator_metrics(g_adversarial, d_loss, real_logits, fake_logits, d_grads))
        return self.update_metrics(values)


# %% [markdown]
# `step_parts.scale_loss`, `step_parts.update_ema` and `step_parts.gradient_norm` are
# the very functions notebook 04's GAN calls: they divide by the number of devices,
# apply the loss scale under mixed precision, keep the moving average in step on
# every device, and report gradient norms without the loss scale. The loss pair is
# the kit's too (`losses.get(LOSS)`, chosen in `compile`).

# %%
for helper in (step_parts.scale_loss, step_parts.update_ema, pix2pix.Pix2Pix.unpack):
    print(inspect.getsource(helper))

# %% [markdown]
# ## Train pix2pix: tissue maps → T1
#
# The models are built in the strategy's scope (several GPUs: `MirroredStrategy`;
# one GPU: mixed precision and loss scaling switch on by themselves). The picture
# below updates after every epoch: the two input channels, G's output and the
# target for the same six test planes (`pix2pix.TranslationGrid`, a
# `callbacks.SampleGrid`). `NaNGuard` is the kit's usual guard.

# %%
setup = accel.configure()
train_pairs = pix2pix.evenly_spaced(tissue_train, KNOBS["max_pairs"])  # all 2 400 unless quick
with setup.scope():
    model = Pix2Pix(G, D, l1_weight=LAMBDA, ema_decay=KNOBS["ema_decay"], seed=SEED)
    g_optimizer, d_optimizer = (keras.optimizers.Adam(KNOBS[k], beta_1=KNOBS["beta_1"]) for k in ("g_lr", "d_lr"))
    model.compile(g_optimizer, d_optimizer, loss=LOSS, jit_compile=setup.xla)
shown = [int(i) for i in np.linspace(30, len(tissue_test) - 30, 6)]
grid = pix2pix.TranslationGrid(tissue_test.input_images[shown], tissue_test.target_images[shown], display=True)

# %%
start = time.time()
history = model.fit(train_pairs.to_tf_dataset(batch_size=KNOBS["batch_size"], seed=SEED), epochs=EPOCHS,
                    callbacks=[grid, callbacks.NaNGuard()], verbose=2, shuffle=False)
print(f"pix2pix: {int(model.g_optimizer.iterations.numpy())} steps in {time.time() - start:.0f} s")

# %% [markdown]
# D's patch accuracies near 0.5–0.8 and a slowly falling L1 are what a healthy
# run looks like: D keeps finding something to criticise, and G keeps getting
# closer to the targets.
#
# ## The baseline: the same U-Net, L1 only
#
# `pix2pix.train` builds the same networks from the same recipe and runs the same
# step with `discriminator=None`.

# %%
baseline = pix2pix.train(tissue_train, adversarial=False, **KNOBS)
print(f"L1 only: {baseline.steps} steps in {baseline.seconds:.0f} s")

# %% [markdown]
# ## Save and reload
#
# `pix2pix.save` hands the model to the kit's `runs.save_gan`: the weights (EMA
# generator alone, and everything with the optimizers), the build settings of both
# networks and the history go into a run folder under `artifacts/pix2pix/`.
# `pix2pix.load` rebuilds the networks in code and loads the weights.

# %%
run = runs.RunFolder.new("brain-mri-pairs-tissue", IMAGE_SIZE, root=pix2pix.runs_root())
pix2pix.save(model, run, history=history, notebook="08")
print("saved to pix2pix/" + run.path.name, sorted(p.name for p in run.path.iterdir()))

# %%
# NBVAL_CHECK_OUTPUT
reloaded = pix2pix.load(run.path)
probe = tissue_test.input_images[:8]
print("same outputs after loading:", np.array_equal(reloaded.translate(probe), model.translate(probe)))

# %% [markdown]
# ## An honest comparison on the test split
#
# Five numbers, each with its direction:
#
# - **PSNR** (dB, higher is better): mean squared error on a log scale;
# - **SSIM** (higher is better): local agreement of brightness, contrast and structure;
# - **FD** (lower is better): Fréchet distance between the outputs and the real test
#   targets in the kit's feature space (notebook 05's classifier, trained on the
#   real `brain-mri` train split) — do the outputs *look like* real slices?
# - **sharpness** (1 = as much fine detail as the real slices): high-frequency
#   energy of the outputs over that of the targets;
# - **invented detail** (lower is better): fine-detail energy in the outputs that
#   the target does not have at that place (see the hallucination section).

# %%
extractor = evaluation.feature_extractor(data.load_dataset("brain-mri", IMAGE_SIZE, "train", seed=SEED),
                                         epochs=EVAL["feature_epochs"], verbose=False)
tissue_out = {"pix2pix (L1 + GAN)": model.translate(tissue_test.input_images),
              "U-Net, L1 only": baseline.model.translate(tissue_test.input_images)}
tissue_table = image_quality.compare(tissue_out, tissue_test.target_images, extractor=extractor)
print(image_quality.format_table(tissue_table, "tissue -> T1, test split (600 planes)"))

# %% [markdown]
# Side by side at the same size and grey scale; under each output its error
# `|output − target|` and its invented-detail map, each on one shared colour scale:

# %%
fig = pix2pix.comparison_figure(tissue_test.input_images, tissue_out, tissue_test.target_images, shown[1:5:2],
                                title="tissue maps -> T1 (test planes)")
plt.show()

# %% [markdown]
# Read the table with the pictures. Both models get the contrast right: GM/WM maps
# determine a T1 image almost completely, so L1 alone already does well here, and
# the two error maps look much alike. Both models do invent detail, though, and
# about equally: their invented-detail numbers are close to each other and not
# far below the one the super-resolution GAN reaches further down on a level it
# never saw (the hallucination test). The maps show where: in the cerebellum
# slice both light up the cerebellar hemispheres and the temporal lobes, where
# the tissue maps hold fine folds that the smoother T1 target does not show at
# that place; the higher slice shows only a few small spots. So this detail is
# not the adversarial term's doing — the L1-only U-Net copies it from the input
# as much as the GAN does. What the adversarial term buys above all is
# realism as the classifier sees it (FD). Here the GAN is also a little ahead on
# PSNR and SSIM, because after 6 epochs the L1 baseline is still catching up (in
# the 12-epoch benchmark of the README the two are within 0.1 dB). Keep in mind
# that PSNR and SSIM reward the *average* answer: where the input leaves doubt, the
# blurry average has the smallest squared error, although no real slice looks like it.
#
# ## 4× super-resolution, trained on three of the four levels
#
# Now a task where the input does **not** hold the answer: a 16 px slice cannot
# contain the folds of the cortex or of the cerebellum. We train on three
# anatomical levels only and keep the fourth, `HELD_OUT_LEVEL`, for the next
# section. First, the test planes of the three levels the models saw:

# %%
held_out = tissue_train.class_names[HELD_OUT_LEVEL]
sr_seen_train = sr_train.subset(np.flatnonzero(sr_train.labels != HELD_OUT_LEVEL))
sr_models = {name: pix2pix.train(sr_seen_train, adversarial=adversarial, **KNOBS)
             for name, adversarial in (("pix2pix (L1 + GAN)", True), ("U-Net, L1 only", False))}
for name, trained in sr_models.items():
    print(f"{name}: {trained.steps} steps in {trained.seconds:.0f} s (levels seen: all but {held_out!r})")


# %%
def super_resolve(pairs):
    """Bicubic and both models on ``pairs``: method name -> outputs."""
    outputs = {"bicubic": pix2pix.bicubic(pairs.input_images, pairs.image_size)}
    outputs.update({name: trained.model.translate(pairs.input_images) for name, trained in sr_models.items()})
    return outputs


seen = sr_test.subset(np.flatnonzero(sr_test.labels != HELD_OUT_LEVEL))
seen_out = super_resolve(seen)
seen_table = image_quality.compare(seen_out, seen.target_images, extractor=extractor)
print(image_quality.format_table(seen_table, f"4x super-resolution, test planes of the levels seen ({len(seen)})"))

# %%
INVENTED_SCALE = 0.06  # the same colour scale for invented detail on seen and unseen levels
fig = pix2pix.comparison_figure(seen.input_images, seen_out, seen.target_images, [60, 400],
                                title="4x super-resolution on levels seen in training",
                                invented_max=INVENTED_SCALE)
plt.show()

# %% [markdown]
# Both networks beat bicubic clearly: they have learned what brain slices look
# like at 64 px. Compare the GAN with the L1 baseline on sharpness, FD and invented
# detail: the adversarial term buys texture that looks real. On the levels it was
# trained on, little of that texture is invented.
#
# ## The hallucination test: a level the model never saw
#
# The same three methods on the test planes of the held-out level:

# %%
unseen = sr_test.subset(np.flatnonzero(sr_test.labels == HELD_OUT_LEVEL))
unseen_out = super_resolve(unseen)
unseen_table = image_quality.compare(unseen_out, unseen.target_images, extractor=extractor)
print(image_quality.format_table(unseen_table, f"4x super-resolution, held-out level {held_out!r} ({len(unseen)})"))

# %%
fig = pix2pix.comparison_figure(unseen.input_images, unseen_out, unseen.target_images, [30, 105],
                                title=f"4x super-resolution on {held_out!r}, a level left out of training",
                                invented_max=INVENTED_SCALE)
fig.savefig(run.path / "hallucination.png", dpi=110)
plt.show()

# %% [markdown]
# The invented-detail map is the output's fine-detail energy *beyond* the truth's,
# place by place: where it lights up, the output has texture or edges that the real
# slice does not have there. One number per method, on the levels seen and on the
# one never seen, next to the PSNR change against bicubic:

# %%
for name in unseen_out:
    before, after = seen_table[name], unseen_table[name]
    print(f"{name:<20} invented detail {before['invented']:.3f} (levels seen) -> {after['invented']:.3f} "
          f"({held_out}); PSNR gain over bicubic {before['psnr'] - seen_table['bicubic']['psnr']:+.2f} dB -> "
          f"{after['psnr'] - unseen_table['bicubic']['psnr']:+.2f} dB")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
names = list(unseen_out)
for offset, (part, table) in enumerate((("levels seen", seen_table), (f"{held_out} (held out)", unseen_table))):
    x = np.arange(len(names)) + 0.38 * offset
    axes[0].bar(x, [table[n]["invented"] for n in names], width=0.36, label=part)
    axes[1].bar(x, [table[n]["psnr"] - table["bicubic"]["psnr"] for n in names], width=0.36, label=part)
for ax, title in zip(axes, ["invented detail (lower = more faithful)", "PSNR gain over bicubic (dB)"]):
    ax.set_xticks(np.arange(len(names)) + 0.19, names, fontsize=8)
    ax.set_title(title, fontsize=10)
fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=8)
fig.subplots_adjust(bottom=0.22)
plt.show()

# %% [markdown]
# **What this means for clinical use.** Bicubic upsampling invents nothing: it
# only loses detail, and its blur says honestly "this is all the input holds". The
# networks invent more on the level they never saw than on the levels they know,
# and the GAN the most: its detail is *sharp and plausible*, drawn from what it
# learned on other anatomy — texture, folds, edges — at places where the patient's
# fine structure is unknown, and PSNR hardly tells it apart from the L1 baseline. Nothing in the
# output marks which detail is measured and which is made up; the error maps need
# the truth, which a real patient's low-resolution scan does not come with. So a
# GAN-translated or GAN-upsampled image is **not a measurement of the patient**:
# do not diagnose, measure or plan treatment from it unless the method has been
# validated on data like this patient's (scanner, anatomy, disease), keep the
# original input next to it, and treat any detail finer than the input could hold
# as a guess. A lesion can be painted in, or painted out.
#
# ## What you learned
#
# - Paired data (the same plane through several volumes) turns image generation
#   into image translation; the pairing must be exact, and here it is.
# - A U-Net's skip connections carry *where* edges are across the bottleneck; a
#   PatchGAN conditioned on the input judges each patch *for this input*.
# - pix2pix's generator loss is adversarial + λ·L1 (λ = 100); without D, the same
#   step is the L1 baseline, which gives the blurry average.
# - PSNR and SSIM reward the average; FD and sharpness reward realism. Report all
#   of them, against baselines (same network with L1 only, bicubic).
# - Realism is not fidelity: on anatomy it never saw, the GAN invents the most
#   detail. A translated image is a guess about the patient, not a measurement.
#
# ## Exercises
#
# **1. PSNR by hand.** An output differs from its target by exactly 0.1 at every
# pixel (images in [-1, 1]). What is its PSNR in dB?

# %%
my_psnr = None  # your number
exercises.check_psnr_by_hand(my_psnr)

# %% [markdown]
# <details><summary>Solution</summary>
#
# The range is 2 (from −1 to 1) and the mean squared error is 0.1² = 0.01, so
# `10 * log10(2**2 / 0.01) = 26.02` dB. Check with
# `image_quality.psnr(np.full((1, 8, 8, 1), 0.1), np.zeros((1, 8, 8, 1)))`.
# </details>
#
# **2. What the skip connections carry.** Which two tensors does the U-Net `G`
# join at its `skip_32x32` layer? Give their shapes without the batch axis.

# %%
my_shapes = []  # e.g. [(32, 32, 8), (32, 32, 8)]
exercises.check_skip_connection(G, my_shapes)

# %% [markdown]
# <details><summary>Solution</summary>
#
# `[tuple(t.shape[1:]) for t in G.get_layer("skip_32x32").input]`: the decoder's
# upsampled features (`up_relu_32x32`) and the encoder's features of the same size
# (`down_lrelu_32x32`), 16 channels each with the default widths. Try it: set the
# encoder half to zeros (build a U-Net with `depth=1`, which has no skip at 32×32,
# or compare outputs) and the edges of the output blur.
# </details>
#
# **3. Change λ and measure.** Train pix2pix on tissue → T1 with `l1_weight=10`
# (and, if you have time, 1000), then compute its mean PSNR and its sharpness on
# `tissue_test`. Compare with λ = 100 (`tissue_table`): is your model sharper, by
# more than 0.02 (the seed noise of the README's benchmark)? Answer from your own
# numbers — the check recomputes them from your model.

# %%
lambda_model = None  # e.g. pix2pix.train(tissue_train, **{**KNOBS, "l1_weight": 10}).model
my_lambda_psnr = None  # its mean PSNR on tissue_test
my_lambda_sharpness = None  # its sharpness on tissue_test
my_sharper = None  # True or False: sharper than λ = 100 by more than 0.02?
exercises.check_lambda_experiment(lambda_model, tissue_test, my_lambda_psnr, my_lambda_sharpness, my_sharper,
                                  baseline=tissue_table["pix2pix (L1 + GAN)"])

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# lambda_model = pix2pix.train(tissue_train, **{**KNOBS, "l1_weight": 10}).model
# outputs = lambda_model.translate(tissue_test.input_images)
# my_lambda_psnr = image_quality.psnr(outputs, tissue_test.target_images).mean()
# my_lambda_sharpness = image_quality.sharpness(outputs, tissue_test.target_images)
# my_sharper = bool(my_lambda_sharpness - tissue_table["pix2pix (L1 + GAN)"]["sharpness"] > 0.02)
# ```
# A smaller λ gives the adversarial term more weight, and one might expect
# sharper outputs. On tissue → T1 the README's 3-seed benchmark found otherwise:
# λ = 10 was no sharper (0.89 vs 0.89) and 0.31 dB lower in PSNR. The GM/WM maps
# fix the T1 contrast almost completely, so the L1 term alone already comes close
# to the targets' sharpness, and the extra adversarial weight mostly costs
# fidelity. With λ = 1000 the model behaves almost like the L1 baseline.
# </details>
#
# **4. Blur loses detail, it does not invent it.** Blur the tissue → T1 test
# targets with a Gaussian of σ = 1 pixel and compute their `sharpness` and
# `invented_detail` against the unblurred targets.

# %%
my_sharpness, my_invented = None, None
exercises.check_blur_numbers(my_sharpness, my_invented, tissue_test.target_images)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scipy import ndimage
# blurred = ndimage.gaussian_filter(tissue_test.target_images, (0, 1, 1, 0))
# my_sharpness = image_quality.sharpness(blurred, tissue_test.target_images)
# my_invented = image_quality.invented_detail(blurred, tissue_test.target_images)
# ```
# Sharpness drops to about 0.3, invented detail stays at 0: a blurry output tells
# you it does not know. The GAN's output is the opposite — sharp, and partly made up.
# </details>
