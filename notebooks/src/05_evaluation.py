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
# # 05 · Evaluation: are the synthetic images good, varied, useful — and not copies?
#
# <!-- colab-badge -->
#
# A GAN's losses do not tell us whether its images are any good. In this notebook
# we judge a trained generator the way a careful medical-imaging paper would:
# **fidelity** (do the images look like the real ones?), **diversity** (are they
# varied, or is the generator stuck on a few?), **memorisation** (is it copying
# patients from the training set?) and **utility** (can a classifier learn from
# them?). Every number gets a *scale*: what two sets of real images score
# against each other. We start with a warning: a number that says "as good as
# real" next to pictures an eye tells apart, and the measures that see what the
# eye sees. At the end, a report is written next to the run.
#
# **Learning goals**
#
# - recognise a ruler's blind spot: a feature space can only separate what its network learned to see;
# - test realism with a classifier two-sample test, the power spectrum and the intensity histogram;
# - explain why we measure in the feature space of a classifier, and which one;
# - compute and read the Fréchet distance, KID, precision, recall, density and coverage;
# - read each number against the real-vs-real references, not against zero;
# - measure diversity with MS-SSIM and spot mode collapse;
# - find possible copies of training images and look at them;
# - run train-on-synthetic / test-on-real (TSTR) and compare it with TRTR;
# - say what these numbers cannot tell you.
#
# **Time:** Run all took 16 and 23 minutes in two builds on a 2-core CPU (the
# longer one shared the CPU with another job; the small classifiers train for
# real, and the evaluation cell prints its own time); not timed on a GPU. Plan
# 20 minutes for the exercises.

# %%
# setup-cell

# %% [markdown]
# ## Setup imports
#
# All imports in one place, then the versions.

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import medgan_helpers
from medgan_helpers import config, data, evaluation, exercises, training

print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| medgan_helpers", medgan_helpers.__version__)

# %% [markdown]
# ## Parameters
#
# `N_SAMPLES` generated images are scored. The utility test trains a small
# classifier `len(UTILITY_SEEDS)` times per setting. The sample sizes and epochs
# come from `evaluation.settings` for the `PRESET`: `"full"` is what the stored
# outputs below were made with; `"lab"` (what `python3 kit.py run` uses) scores
# 500 images with shorter classifiers and skips the real + synthetic setting, so
# its numbers are noisier; quick mode (the tests) is smaller still.
#
# To use a MedMNIST 2-D set instead of brain MRI, set `DATASET = "pneumoniamnist"`
# (or `"bloodmnist"`, `"dermamnist"`, … with `IMAGE_SIZE` 28, 64 or 128); it
# downloads once (on Colab; offline, see the README's troubleshooting).
# The pretrained model is brain-mri only: for another dataset, train it in notebook 04 first.

# %% tags=["parameters"]
DATASET = "brain-mri"
IMAGE_SIZE = 64
PRESET = config.preset()  # "full", "lab" (the main job) or "quick" (the tests)
QUICK = PRESET == "quick"
EVAL = evaluation.settings(preset=PRESET)  # sample sizes and epochs
N_SAMPLES = EVAL["n_samples"]
UTILITY_SEEDS = (0, 1, 2)
UTILITY_SETTINGS = ("tstr", "trtr", "mixed") if PRESET == "full" else ("tstr", "trtr")
SEED = 0

# %% [markdown]
# ## The real data: two splits
#
# The **train** split is what the GAN learned from. The **test** split holds
# slices the GAN never saw — for the brain MRI, other slice positions, so it is a
# slightly *shifted* distribution, like a new patient or a new scanner would be.

# %%
# NBVAL_CHECK_OUTPUT
config.seed_everything(SEED)
real_train = data.load_dataset(DATASET, image_size=IMAGE_SIZE, split="train", seed=SEED)
real_test = data.load_dataset(DATASET, image_size=IMAGE_SIZE, split="test", seed=SEED)
print(real_train)
print(real_test)

# %% [markdown]
# ## The generator to judge
#
# We take your newest training run from notebook 04; if there is none, the
# pretrained generator shipped with the kit; if that is missing too, we train a
# quick one (a couple of minutes).

# %%
sampler, source = training.load_latest_or_pretrained(DATASET, IMAGE_SIZE, quick=QUICK)
print(source)
print(sampler)

# %% [markdown]
# A conditional generator gets an equal number of images per class, so the
# generated set has the same class balance as the real one.

# %%
labels = evaluation.balanced_labels(N_SAMPLES, sampler.num_classes) if sampler.num_classes else None
fake = sampler.generate(N_SAMPLES, labels=labels, seed=SEED)
print("generated:", fake.shape, "values in", (round(float(fake.min()), 2), round(float(fake.max()), 2)))

# %%
def show_rows(rows, titles, n=8):
    """Rows of images side by side, each row with a title on its left."""
    fig, axes = plt.subplots(len(rows), n, figsize=(1.5 * n, 1.6 * len(rows)), squeeze=False)
    for r, (images, title) in enumerate(zip(rows, titles)):
        for c in range(n):
            axes[r, c].imshow(images[c, :, :, 0], cmap="gray", vmin=-1, vmax=1)
            axes[r, c].axis("off")
        axes[r, 0].set_title(title, fontsize=9, loc="left")
    plt.show()


pick = np.random.default_rng(SEED).choice(len(real_train), 8, replace=False)
show_rows([real_train.batch_images(pick), fake[:: max(1, N_SAMPLES // 8)][:8]], ["real train", "generated"])

# %% [markdown]
# ## 0 · The verdict first — and a blind spot
#
# `evaluation.evaluate` computes every number of this notebook at once; the
# sections below take them apart one by one. Start with the most quoted one, the
# **Fréchet distance** (FD, section 2) between generated and real images, next to
# its *noise floor*: the FD between two halves of the real training set.

# %%
report = evaluation.evaluate(
    real_train, real_test, fake, labels, seed=SEED, feature_epochs=EVAL["feature_epochs"],
    utility_seeds=UTILITY_SEEDS, utility_epochs=EVAL["utility_epochs"], utility_settings=UTILITY_SETTINGS,
    kid_subsets=EVAL["kid_subsets"], diversity_pairs=EVAL["diversity_pairs"],
    realism_epochs=EVAL["realism_epochs"], realism_images=EVAL["realism_images"],
)
fid = report.fidelity
print(f"FD generated vs real train: {fid['fake_vs_train']['fd']:.2f}   "
      f"(two halves of the real train set: {fid['floor_train_halves']['fd']:.2f})")

# %% [markdown]
# By that number the generated images are as close to the real ones as real
# images are to each other. Now ask a different judge. A **classifier two-sample
# test** (Lopez-Paz & Oquab, 2017) trains a *fresh* small CNN to answer "real or
# generated?" on half of each set and scores it on the other half, three times
# with different seeds. Accuracy 0.5 means it cannot tell them apart. Its floor
# is the same test between two halves of the real set.

# %%
two_sample = report.realism["classifier"]
print(f"held-out accuracy, generated vs real : {two_sample['accuracy']:.3f} ± {two_sample['accuracy_std']:.3f}")
print(f"held-out accuracy, real vs real      : {two_sample['floor']:.3f} ± {two_sample['floor_std']:.3f}")

# %% [markdown]
# These are the generated images the CNN was surest about, above real images of
# the same class at the same size. Look for what gives them away.

# %%
fig = report.plot("most_fake")
plt.show()

# %% [markdown]
# Two pictures say where the difference is. The **power spectrum** (Durall et
# al., 2020) splits each image into waves of increasing spatial frequency and
# shows how much energy each carries, averaged over rings of equal frequency:
# speckle and noise raise the right-hand end, blur lowers it. The **intensity
# histogram inside the brain** (pixels brighter than the black background by
# more than 0.1) shows contrast: real slices have separate peaks for grey and
# white matter; a flat, washed-out image puts them together.

# %%
fig = report.plot("spectrum")
plt.show()
fig = report.plot("intensity")
plt.show()
spectrum, intensity = report.realism["spectrum"], report.realism["intensity"]
print(f"high-frequency energy, generated / real: {spectrum['hf_ratio']:.2f} "
      f"(two real halves: {spectrum['hf_ratio_floor']:.2f})")
print(f"intensity distance inside the brain    : {intensity['quantile_distance']:.3f} "
      f"(two real halves: {intensity['quantile_distance_floor']:.3f})")

# %% [markdown]
# With the shipped model, FD sits below its noise floor, yet the fresh CNN is
# right about 99 % of the time (two real halves: 50 %). The pictures say why.
# The generated slices have the right outline and the right large structures,
# but a speckled, cross-hatched texture with short dark dashes, where the real
# slices are smooth, with a crisp cortical ribbon. The spectrum agrees: up to a
# quarter cycle per pixel the two curves lie on top of each other; above it the
# generated images carry more energy, about three times as much near the Nyquist
# frequency (1.6× over the whole band). The real intensity histogram has two
# peaks, grey matter near 0.5 and white matter near 0.9; the generated one is a
# single broad plateau between them, with extra pixels at the very top: little
# grey/white contrast. (Its distance to real, about twice the floor, is small in
# numbers because the two cover the same range: the *shape* is what differs.)
#
# **Why does FD miss it?** FD is measured in the feature space of a small
# classifier trained to name the *slice level* (section 1). To do that job it
# needs the outline and the large structures, and it learns to ignore texture
# and fine contrast, because they do not help it name the level. Whatever its
# features ignore, FD, precision and recall cannot see. A number at its floor
# then means "this ruler cannot separate the two sets", not "perfect". The
# report says so in plain words, and puts the realism measures next to it.

# %% [markdown]
# ## 1 · A ruler: the feature space
#
# Comparing raw pixels is a poor ruler: shift a brain by two pixels and every
# pixel changes, yet a radiologist sees the same image. So we compare images
# in the **feature space** of a network — the numbers it computes just before
# its final decision.
#
# The usual choice, InceptionV3 trained on ImageNet photos, has never seen an MRI
# and needs a download. The kit instead trains a **small CNN classifier on the
# real train split** (here: which part of the brain a slice shows), takes its
# penultimate layer as features, and **freezes** it before any GAN is scored.
# It is cached, so every run of this dataset is measured with the same ruler.
# The price: our numbers are on our own scale and **cannot be compared with
# FIDs published in papers**.

# %%
extractor = evaluation.feature_extractor(real_train, epochs=EVAL["feature_epochs"])
print(extractor.name)
print("trained on", extractor.info["train_samples"], "images; train accuracy",
      round(extractor.info["train_accuracy"], 3))

# %%
# NBVAL_CHECK_OUTPUT
f_train, f_test, f_fake = extractor(real_train.images), extractor(real_test.images), extractor(fake)
print("each image becomes", f_train.shape[1], "numbers")

# %% [markdown]
# 128 numbers per image are hard to look at, so we project them onto the two
# directions along which they vary most (PCA). Good generated images (red)
# should fall where the real ones (blue, green) are — and fill all of it.

# The splits are stored sorted by class, so the first 800 points of a split would
# be one or two classes only: we plot a random subset with an equal share of each class.

# %%
p_train, p_test, p_fake = evaluation.pca_2d(f_train, f_test, f_fake)
plt.figure(figsize=(5.5, 4.5))
for points, classes, name, colour in ((p_train, real_train.labels, "real train", "tab:blue"),
                                      (p_test, real_test.labels, "real test", "tab:green"),
                                      (p_fake, labels, "generated", "tab:red")):
    shown = evaluation.balanced_subset(classes, 800, seed=SEED, count=len(points))
    plt.scatter(*points[shown].T, s=5, alpha=0.4, c=colour, label=name)
plt.legend(markerscale=3)
plt.title("Feature space, first two principal components")
plt.show()

# %% [markdown]
# With a class-balanced subset, every class shows up: the cloud has four arms,
# roughly one per slice level. The red points lie along every arm, among the
# blue ones, and fill them; the green test points sit beside the train points or
# at the ends of the arms (the shifted split). In these two dimensions the
# generated images look like real ones, which agrees with FD, and not with the
# two-sample test of section 0.
#
# Look for red points with no blue or green point near them: generated images
# that resemble no real image, at least in this feature space. (Two dimensions
# can also *hide* a gap — points that overlap here may be far apart in the other
# 126 — so we count in all 128.) Around every real train image draw a ball that
# reaches its 5th nearest real neighbour; a generated image inside no ball has no
# real neighbours. Their share is exactly 1 − precision of section 4. Which
# classes do they come from, and what do they look like next to their nearest
# real image?

# %%
real_radius = np.sort(evaluation.pairwise_distances(f_train, f_train), axis=1)[:, 5]  # column 0: itself
lonely = ~(evaluation.pairwise_distances(f_train, f_fake) <= real_radius[:, None]).any(axis=0)
nearest_real, distance = evaluation.nearest_neighbours(f_fake, f_train)
print(f"{lonely.sum()} of {len(fake)} generated images ({lonely.mean():.1%}) have no real neighbour")
if labels is not None:
    for k, name in enumerate(sampler.class_names):
        print(f"  {name:<28} {lonely[labels == k].sum():4d} of {(labels == k).sum()}")

# %%
shown = np.flatnonzero(lonely)[np.argsort(-distance[lonely])][:8]
if len(shown):
    show_rows([fake[shown], real_train.batch_images(nearest_real[shown])],
              ["generated, far from every real image", "its nearest real train image"], n=len(shown))
else:
    print("Every generated image lies inside at least one real image's ball.")

# %% [markdown]
# A tight cluster of such images is a **mode of the generator that the data
# does not have**: G draws it again and again, and no real slice is like it.
# Precision (section 4) counts these images; the scatter shows where they sit.
# Small numbers of lonely images are normal (every finite sample has a few
# outliers); a whole cluster is a defect to look at.
#
# With the shipped model, about 7 % of the generated images have no real
# neighbour, most of them vertex and basal-ganglia slices. They form no cluster
# of their own in the scatter: in two dimensions they sit among the real points.
# Next to their nearest real image they have the right outline and the right
# large structures, but a speckled, washed-out texture without the real slices'
# grey/white contrast: the defect of section 0, which this feature space
# registers only for the worst few.

# %% [markdown]
# ## 2 · Fréchet distance (FD): two clouds as two Gaussians
#
# Fit a Gaussian (a mean vector $\mu$ and a covariance matrix $\Sigma$) to each
# cloud of features and measure how far apart the two Gaussians are:
#
# $$\mathrm{FD} = \lVert \mu_r - \mu_g \rVert^2 + \operatorname{Tr}\!\left(\Sigma_r + \Sigma_g - 2\,(\Sigma_r \Sigma_g)^{1/2}\right)$$
#
# The first term says "the centres differ", the second "the spreads differ".
# With InceptionV3 features this is the famous FID. A quick sanity check: a cloud
# moved by a vector `shift` must have FD = $\lVert$shift$\rVert^2$.

# %%
# NBVAL_CHECK_OUTPUT
cloud = np.random.default_rng(0).normal(size=(5000, 2))
shift = np.array([3.0, 4.0])
print("FD(cloud, cloud)         =", round(evaluation.frechet_distance(cloud, cloud), 6))
print("FD(cloud, cloud + shift) =", round(evaluation.frechet_distance(cloud, cloud + shift), 6), "= 3² + 4²")

# %% [markdown]
# Now the real thing — and its **scale**. FD is never exactly 0, even between
# two sets of *real* images, because a finite sample is noisy. So we always
# compute two references:
#
# - **noise floor**: two disjoint halves of the real train split;
# - **real test vs real train**: how far genuinely new real images are.

# %%
half = len(f_train) // 2
order = np.random.default_rng(SEED).permutation(len(f_train))
print("FD generated vs real train :", round(evaluation.frechet_distance(f_train, f_fake), 2))
print("FD train half vs half      :", round(evaluation.frechet_distance(f_train[order[:half]], f_train[order[half:]]), 2))
print("FD real test vs real train :", round(evaluation.frechet_distance(f_train, f_test), 2))

# %% [markdown]
# ## 3 · KID: the same question without the Gaussian assumption
#
# The **Kernel Inception Distance** compares the clouds with a polynomial kernel
# $k(x, y) = (x \cdot y / d + 1)^3$ (maximum mean discrepancy). Its estimator is
# *unbiased*: for two samples of the same distribution it is ≈ 0 on average —
# it can even be slightly negative — whatever the sample size, which FD is not.
# We average it over random subsets and report mean ± std.

# %%
kid_mean, kid_std = evaluation.kid(f_train, f_fake, n_subsets=20, subset_size=500)
print(f"KID generated vs train: {kid_mean * 1000:.2f} ± {kid_std * 1000:.2f}  (×1000)")
kid_mean, kid_std = evaluation.kid(f_train[order[:half]], f_train[order[half:]], n_subsets=20, subset_size=500)
print(f"KID train half vs half: {kid_mean * 1000:.2f} ± {kid_std * 1000:.2f}  (×1000)")

# %% [markdown]
# ## 4 · Precision, recall, density, coverage: quality and variety apart
#
# One number mixes two failures: *bad* images and *too few kinds* of images.
# Kynkäänniemi et al. (2019) separate them with k-nearest-neighbour balls
# (**precision** and **recall**): around every real point draw a ball reaching
# its k-th nearest real neighbour (k = 5 here). Naeem et al. (2020) added
# **density** and **coverage**, which count the balls instead of only asking
# "inside any ball?", so that a few outlying real images with huge balls cannot
# inflate the score.
#
# - **precision** — share of generated points inside some real ball (realistic?)
# - **recall** — share of real points inside some generated ball (all kinds made?)
# - **density** — how many real balls hold a generated point, on average, ÷ k
# - **coverage** — share of real balls holding at least one generated point
#
# A picture in 2-D: a good generator and a *collapsed* one that makes only a
# few nearly identical images.

# %%
rng = np.random.default_rng(1)
toy_real = rng.normal(size=(150, 2))
toy_good = rng.normal(size=(150, 2))
toy_collapsed = rng.normal(size=(150, 2)) * 0.05 + toy_real[0]
radius = np.sort(evaluation.pairwise_distances(toy_real, toy_real), axis=1)[:, 5]
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
for ax, toy, name in zip(axes, (toy_good, toy_collapsed), ("good generator", "collapsed generator")):
    for point, r in zip(toy_real, radius):
        ax.add_patch(plt.Circle(point, r, color="tab:blue", alpha=0.06))
    ax.scatter(*toy_real.T, s=8, c="tab:blue", label="real")
    ax.scatter(*toy.T, s=8, c="tab:red", label="generated")
    scores = evaluation.prdc(toy_real, toy, k=5)
    ax.set_title(f"{name}\n" + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()), fontsize=9)
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
plt.show()

# %% [markdown]
# The collapsed generator keeps a perfect precision — each of its images is
# realistic — but its recall and coverage drop to almost zero. This is why a
# single "quality" number is not enough.

# %% [markdown]
# ## 5 · The whole report
#
# The report of section 0 holds all of it, with the real-vs-real rows for scale,
# plus diversity, memorisation and utility (the next sections) and the realism
# measures of section 0. When FD, or precision and recall together, sit at their
# floor, the table says that this feature space cannot separate the two sets.

# %%
print(report.table())

# %% [markdown]
# ### Collapse, or noise? Two rules for the table
#
# **Diversity within a class.** 1 − MS-SSIM is a rough measure of how much two
# images differ. The share of the real variety that generated pairs keep is
# $(1 - \text{MS-SSIM}_\text{generated}) / (1 - \text{MS-SSIM}_\text{real})$.
# When a class keeps less than half (the threshold `TrainingHealth` uses for its
# collapse alarm during training), call it what it is: **mode collapse** in that
# class — its samples are variations of very few images — not "partial"
# collapse or "a bit less varied". When the two means differ by less than two
# standard errors, the difference is **within noise** at this number of pairs.
#
# **Utility.** Each accuracy is a mean over `len(UTILITY_SEEDS)` classifier
# seeds, and the ± is their spread. A difference between two rows smaller than
# two standard errors of the difference is within noise: "real + synthetic"
# scoring a little above "real only" then means *no measurable gain*, not "the
# synthetic images help". (Two standard errors is a rough yardstick; with three
# seeds, more seeds are the better cure.)
#
# The cell computes both for this run.

# %%
def mean_and_se(values):
    """Mean and standard error of the mean."""
    return values.mean(), values.std(ddof=1) / np.sqrt(len(values))


pairs = max(20, EVAL["diversity_pairs"] // 4)
groups = ([(name, labels == k, real_train.labels == k) for k, name in enumerate(sampler.class_names)]
          if labels is not None else [("all images", slice(None), slice(None))])
for name, fake_mask, real_mask in groups:
    (g, g_se) = mean_and_se(evaluation.ms_ssim_pairs(fake[fake_mask], pairs, seed=SEED))
    (r, r_se) = mean_and_se(evaluation.ms_ssim_pairs(real_train.images[real_mask], pairs, seed=SEED + 1))
    kept = (1 - g) / (1 - r)
    verdict = ("within noise" if abs(g - r) <= 2 * np.hypot(g_se, r_se) else "COLLAPSED" if kept < 0.5
               else "less varied than real" if g > r else "more varied than real")
    print(f"{name:<28} MS-SSIM generated {g:.3f} ± {g_se:.3f}, real {r:.3f} ± {r_se:.3f} · "
          f"variety kept {kept:.2f} → {verdict}")

utility = report.utility or {}
for key, name in (("tstr", "synthetic only"), ("mixed", "real + synthetic")):
    if key in utility and "trtr" in utility:
        difference = utility[key]["accuracy"] - utility["trtr"]["accuracy"]
        # the ± in the table is the population std over the seeds: SE of a mean = std / sqrt(n - 1)
        se = np.hypot(utility[key]["accuracy_std"], utility["trtr"]["accuracy_std"]) / np.sqrt(len(UTILITY_SEEDS) - 1)
        print(f"accuracy, {name} minus real only: {difference:+.3f} (two standard errors: {2 * se:.3f}) → "
              f"{'within noise' if abs(difference) <= 2 * se else 'beyond noise'}")

# %% [markdown]
# The FD bars with their two references. A generated set is close to the real
# distribution *in this feature space* when its bar is comparable with the grey
# noise floor; the green bar shows how far a *genuinely new* real set already
# is. Here the generated bar is too short to see, below the floor, and section 0
# showed what this space does not see.

# %%
fig = report.plot("fidelity")
plt.show()

# %% [markdown]
# ## 6 · Diversity: MS-SSIM between pairs
#
# **MS-SSIM** compares two images on structure (edges, textures) at several
# scales; 1 means identical. We compute it for random pairs *of generated
# images* and for random pairs *of real images*. If generated pairs are much more
# alike than real pairs, the generator lacks variety — mode collapse. (We use 3
# scales and a 7-pixel filter, because the usual 5 scales need images of at least
# ~160 px.) For a conditional generator the table also compares within each class.

# %%
fig = report.plot("diversity")
plt.show()

# %% [markdown]
# ## 7 · Memorisation: is it copying patients?
#
# A generator could score very well simply by reproducing training images —
# a privacy problem for medical data. For each generated image we find the
# **nearest training image**, in pixel space and in feature space. The yardstick
# must come from the distribution the generator learned: how close is each
# *training* image to the rest of the training set (leave one out)? A generated
# image closer than the 1st percentile of those distances is a **possible
# copy** — so a generator that draws genuinely new images from the training
# distribution has about 1 % flagged by chance, and a copy is always flagged.
#
# Why not the test split? It is a *shifted* distribution (other slice
# positions), so test images sit further from train than new train-like images
# do; its 1st percentile is a larger distance and flags faithful non-copies. The
# report keeps it as a second number, in brackets. The closest pairs are shown
# so that you can judge by eye.

# %%
fig = report.plot("nearest_neighbours")
plt.show()

# %%
for space in ("pixel", "feature"):
    m = report.memorisation[space]
    print(f"{space:>7} space: {m['possible_copies']} of {len(fake)} generated images are possible copies "
          f"({m['possible_copies_fraction']:.1%}; about 1 % by chance; with the test-split threshold "
          f"{m['possible_copies_fraction_test']:.1%})")

# %% [markdown]
# ## 8 · Utility: can a classifier learn from synthetic images?
#
# The most practical test: train the same small classifier on **synthetic images
# only** and test it on **real** test images (TSTR), and compare it with training
# on real images (TRTR). A TSTR close to TRTR means the synthetic images carry
# the information that distinguishes the classes. Each bar is a mean over
# several seeds; the error bar is the spread.

# %%
fig = report.plot("utility")
plt.show()

# %% [markdown]
# ## 9 · Save the report next to the run
#
# `evaluation.json` (every number) and `evaluation.png` (every picture) go into the
# run's folder in `artifacts/` — or, for the shipped pretrained model, into
# `artifacts/evaluations/`; the kit never writes into the data folder.

# %%
paths = report.save(evaluation.output_dir_for(sampler, DATASET))
print("wrote", paths["json"].name, "and", paths["png"].name, "into",
      paths["json"].parent.relative_to(config.artifacts_dir()).as_posix(), "(under artifacts/)")

# %% [markdown]
# The same thing from a terminal, for any saved run:
#
# ```bash
# python -m medgan_helpers.evaluation artifacts/runs/<your-run>
# ```
#
# ## How to read these numbers
#
# - **Against the references, never against zero.** An FD or KID near the noise
#   floor means "as close as two real samples of this size" *in this feature
#   space*: the space may be blind to what differs (section 0). Between the floor
#   and the test-vs-train row: close, but distinguishable from new real data.
# - **FD-to-train below test-vs-train is normal.** The test split is a shifted
#   distribution (other slice positions or patients), so a generator that fits
#   the *train* split can be closer to it than new real data is. Look at the
#   scores against the test split too.
# - **Precision vs recall** separates "unrealistic" from "not varied": high
#   precision with low recall or coverage is the signature of mode collapse.
# - **Possible copies** are flags to inspect, not proof; 0 % is not a privacy
#   guarantee either (a GAN can leak information without copying pixels). Small
#   slices (cerebellum, vertex) are mostly black background, so their pixel
#   distances are small and they are flagged more often: look at the pairs.
# - **TSTR ≪ TRTR** means the images lack what separates the classes, even if
#   they look fine.
#
# - **A fresh classifier is the sharper judge of realism.** Held-out accuracy
#   well above its real-vs-real floor means the images can be told apart, however
#   good FD looks; the most fake-looking images, the spectrum and the intensity
#   histogram show *how*.
#
# **Limits.** Every feature-space number here is measured with a small classifier
# trained on a few thousand slices: it sees what helps it tell brain regions
# apart, not texture or contrast, and not everything a clinician would see. The sample sizes are small, so compare runs
# only at equal `N_SAMPLES`, and our FD is *not* comparable with published FIDs.
# **No metric replaces a radiologist** looking at the images — and, before any
# clinical use, a proper reader study.
#
# ## What you learned
#
# - A feature space has blind spots: FD at its floor can sit beside images a
#   fresh classifier tells apart almost every time. Measure realism where the eye
#   looks too: two-sample test, spectrum, intensities, each against its floor.
# - Generated images are compared with real ones in the frozen feature space of a
#   classifier trained on the real train split.
# - FD and KID measure the distance between whole distributions; precision,
#   recall, density and coverage separate quality from variety.
# - Each number needs a scale: the real-vs-real noise floor and test-vs-train.
# - MS-SSIM between pairs shows diversity; nearest neighbours show possible copies.
# - TSTR vs TRTR tells whether synthetic images are useful for a downstream task.
#
# ## Exercises
#
# ### Exercise 1 · The Fréchet distance in one dimension
#
# For two 1-D Gaussians the matrices become numbers: $\Sigma = \sigma^2$ and
# $(\Sigma_1\Sigma_2)^{1/2} = \sigma_1\sigma_2$. Write
# `frechet_1d(mu1, sigma1, mu2, sigma2)` (sigma = standard deviation).

# %%
def frechet_1d(mu1, sigma1, mu2, sigma2):
    return None  # YOUR CODE HERE


exercises.check_frechet_1d(frechet_1d)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def frechet_1d(mu1, sigma1, mu2, sigma2):
#     return (mu1 - mu2) ** 2 + sigma1**2 + sigma2**2 - 2 * sigma1 * sigma2
# ```
#
# which is $(\mu_1-\mu_2)^2 + (\sigma_1-\sigma_2)^2$: a shift and a change of
# spread both cost.
#
# </details>
#
# ### Exercise 2 · AUC by counting pairs
#
# The ROC AUC of a classifier's scores is the probability that a random
# *positive* example gets a higher score than a random *negative* one (a tie
# counts ½). Write `auc(y_true, scores)` with NumPy only (`y_true` holds 0/1).

# %%
def auc(y_true, scores):
    return None  # YOUR CODE HERE


exercises.check_auc(auc)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def auc(y_true, scores):
#     pos, neg = scores[y_true == 1], scores[y_true == 0]
#     wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
#     return wins / (len(pos) * len(neg))
# ```
#
# The kit's `evaluation.binary_auc` gives the same number with ranks, which is
# faster for large sets; `macro_auc_ovr` averages it over the classes (one class
# against the rest).
#
# </details>
#
# ### Exercise 3 · Flag the possible copies
#
# Given the nearest-train distances of the generated images and the
# leave-one-out distances of train images to the rest of train, return the
# *fraction* of generated images at or below the 1st percentile of the
# train distances. Then try it on this notebook's run:
# `report.nearest_distances["fake_pixel"]` and `report.nearest_distances["train_pixel"]`
# — and once more with `"test_pixel"` as the reference, to see why the kit does
# not calibrate on the test split.

# %%
def possible_copies(fake_to_train, train_to_rest):
    return None  # YOUR CODE HERE


exercises.check_possible_copies(possible_copies)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def possible_copies(fake_to_train, train_to_rest):
#     threshold = np.percentile(train_to_rest, 1)
#     return float(np.mean(fake_to_train <= threshold))
# ```
#
# By construction about 1 % of *new images from the training distribution*
# fall below that line, so a generator near 1 % behaves like fresh data; a
# much larger fraction deserves a look at the pairs. With the test split as
# the reference, the shipped model gets about 30 %: the test split holds other
# slice positions, its distances are larger, and faithful non-copies fall
# under its 1st percentile.
#
# </details>
#
# ### Exercise 4 (open) · Make the generator collapse
#
# Replace `fake` by one generated image repeated `N_SAMPLES` times
# (`np.repeat(fake[:1], N_SAMPLES, axis=0)`) and rerun `evaluation.evaluate(...,
# utility=False)`. Which numbers move, and which hardly change? Write down why.
#
# <details><summary>Solution</summary>
#
# Diversity MS-SSIM among generated pairs jumps to 1.0, recall and coverage fall
# towards 0, FD grows (the covariance term: the spread vanishes), while precision
# can stay high because the single image is realistic. In pixel space the one
# image may be flagged as a possible copy if it happens to lie near a training image.
#
# </details>
