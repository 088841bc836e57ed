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
# # 09 · GAN theory, what the article got wrong, and a gallery of failures
#
# <!-- colab-badge -->
#
# **Read this after notebook 04**, which wrote the training step and trained a
# GAN. Here we step back. First the theory behind the losses of notebook 04, as
# equations, each with a small numerical check: the minimax game, the best
# discriminator for a fixed generator, why that makes the original generator
# minimise the Jensen–Shannon divergence, why that loss stops teaching, what the
# non-saturating loss minimises instead (and why it drops modes), and where the
# hinge and Wasserstein losses fit — ending with a toy GAN you train live and
# watch collapse. Then the steps of the popular article this kit was written to
# replace, each mapped to what goes wrong and to the kit notebook that does it
# right. Last, a gallery of real failures: short
# training runs that each break one thing, with their samples and their
# training-health readings, so you can recognise them in your own runs.
#
# **Learning goals**
#
# - write the GAN minimax objective and derive the optimal discriminator $D^*$;
# - show numerically that $V(D^*, G) = -\log 4 + 2\,\mathrm{JSD}(p_\text{data}\,\|\,p_G)$;
# - explain, with the gradients on a plot, why the saturating generator loss
#   stalls and the non-saturating one does not, and show that they also point
#   G's weights in different directions;
# - check numerically that the non-saturating loss makes G minimise
#   $\mathrm{KL}(p_G\,\|\,p_\text{data}) - 2\,\mathrm{JSD}$, and why that
#   objective prefers dropping a mode;
# - train a toy GAN on eight Gaussians, watch it collapse when G gets five
#   steps per D step, and see minibatch standard deviation bring the modes back;
# - place the hinge and Wasserstein losses next to the original one;
# - name what is wrong with softmax outputs, MSE losses, `Sequential([G, D]).fit`,
#   a "generation rate", batch size 1 and unrelated training images;
# - recognise six failure runs from their samples and health readings (a strong
#   D, the saturating loss, a wrong learning rate, two kinds of transposed
#   convolution, a collapse), and name the fix for each.
#
# **Time:** about 15 minutes to read; running every cell took 67 and 75 s in two
# builds on a 2-core CPU shared with other jobs (2026-12-07: the gallery is
# stored, the toy GAN and the live re-run of one gallery case train here). Plus
# 20 minutes of exercises.

# %%
# setup-cell

# %% [markdown]
# ## Setup imports

# %%
import importlib.util
import inspect
import json

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from keras import ops

import medgan_helpers
from medgan_helpers import callbacks, config, data, exercises, losses, models, pictures

print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| medgan_helpers", medgan_helpers.__version__)

# %% [markdown]
# ## Parameters
#
# The gallery was made by `benchmarks/failure_gallery.py` and is stored in
# `docs/gallery/`; this notebook reads it. `LIVE_CASE` is the case the live cell
# at the end of part 3 trains again, for `LIVE_EPOCHS` × `LIVE_STEPS` steps;
# `TOY_STEPS` is the length of each toy GAN run in section 1.7 (quick mode, used
# by the tests, trains a tiny model for a few steps and the toy for a tenth).

# %% tags=["parameters"]
DATASET = "brain-mri"
IMAGE_SIZE = 64
LIVE_CASE = "saturating"  # one of the gallery's cases
LIVE_EPOCHS = config.quick_or(2, 1)
LIVE_STEPS = config.quick_or(75, 8)
TOY_STEPS = config.quick_or(1500, 150)  # steps of each toy GAN run (section 1.7)
SEED = 0

# %%
config.seed_everything(SEED)
gallery_dir = config.REPO_ROOT / "docs" / "gallery"
gallery = json.loads((gallery_dir / "gallery.json").read_text())
spec = importlib.util.spec_from_file_location("failure_gallery", config.REPO_ROOT / "benchmarks" / "failure_gallery.py")
failure_gallery = importlib.util.module_from_spec(spec)
spec.loader.exec_module(failure_gallery)
print("stored gallery:", ", ".join(gallery["cases"]), "| made with:", gallery["setup"]["command"])

# %% [markdown]
# # Part 1 · The theory behind the losses
#
# ## 1.1 · The minimax game
#
# Goodfellow et al. (2014) wrote GAN training as a game with one value function.
# $D(x) \in (0, 1)$ is D's probability that $x$ is real, $p_\text{data}$ the
# distribution of real images and $G(z)$, $z \sim p_z$, the generated ones:
#
# $$\min_G \max_D \; V(D, G) = \mathbb{E}_{x \sim p_\text{data}}[\log D(x)] + \mathbb{E}_{z \sim p_z}[\log(1 - D(G(z)))].$$
#
# D maximises $V$: a high $D(x)$ on real images, a low $D(G(z))$ on fakes. G
# minimises it. The kit's D outputs a logit $\ell$ with $D = \sigma(\ell)$, and
# $\log \sigma(\ell) = -\operatorname{softplus}(-\ell)$,
# $\log(1 - \sigma(\ell)) = -\operatorname{softplus}(\ell)$. So maximising $V$ is
# minimising the kit's `losses.d_loss_bce`, which is exactly $-V$ estimated on a
# batch. A check on random logits:

# %%
# NBVAL_CHECK_OUTPUT
rng = np.random.default_rng(SEED)
real_logits, fake_logits = rng.normal(1, 2, (256, 1)).astype("float32"), rng.normal(-1, 2, (256, 1)).astype("float32")
sigmoid = lambda x: 1 / (1 + np.exp(-x.astype(np.float64)))  # noqa: E731
value = np.mean(np.log(sigmoid(real_logits))) + np.mean(np.log(1 - sigmoid(fake_logits)))
print("V on the batch:", round(value, 4), "| -d_loss_bce:", round(-float(losses.d_loss_bce(real_logits, fake_logits)), 4))

# %% [markdown]
# ## 1.2 · The best discriminator for a fixed generator
#
# Write $p$ for $p_\text{data}$ and $q$ for the distribution of $G(z)$. Then
# $V = \int p(x) \log D(x) + q(x) \log(1 - D(x))\,dx$, and D can choose $D(x)$
# separately at every $x$. The function $a \log y + b \log(1-y)$ is largest at
# $y = a / (a+b)$, so
#
# $$D^*(x) = \frac{p(x)}{p(x) + q(x)}.$$
#
# A numerical check in one dimension: "real" data $p = \mathcal{N}(0, 1)$, a
# generator that draws $q = \mathcal{N}(2, 0.7^2)$. We let TensorFlow *find*
# D — one free logit per point of a grid — by gradient ascent on $V$, and compare
# it with the formula.

# %%
x = np.linspace(-5, 6, 441)
dx = x[1] - x[0]


def normal(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


p, q = normal(x, 0.0, 1.0), normal(x, 2.0, 0.7)
d_logits = tf.Variable(tf.zeros(len(x), tf.float64))
optimizer = keras.optimizers.Adam(0.1)
for _ in range(600):
    with tf.GradientTape() as tape:
        d = tf.sigmoid(d_logits)
        loss = -tf.reduce_sum(p * tf.math.log(d + 1e-300) + q * tf.math.log(1 - d + 1e-300)) * dx  # -V
    optimizer.apply_gradients([(tape.gradient(loss, d_logits), d_logits)])
d_learned, d_star = tf.sigmoid(d_logits).numpy(), p / (p + q)

# %%
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(x, p, label="p (real)")
ax.plot(x, q, label="q (generated)")
ax.plot(x, d_star, "k", lw=3, alpha=0.35, label="D* = p / (p + q)")
ax.plot(x, d_learned, "r--", label="D found by gradient ascent")
ax.set_xlabel("x")
ax.legend(fontsize=8)
plt.show()
where = (p + q) > 1e-3  # where there is probability mass to learn from
print(f"largest |D_learned - D*| where p + q > 0.001: {np.abs(d_learned - d_star)[where].max():.4f}")

# %% [markdown]
# (At the far edges, where neither distribution has any mass, nothing pulls D
# anywhere, and the learned values there mean nothing: the check only counts
# the points where there is data.)
#
# ## 1.3 · Why that is the Jensen–Shannon divergence
#
# Put $D^*$ back into $V$. With the mixture $m = (p+q)/2$,
#
# $$V(D^*, G) = \int p \log \frac{p}{p+q} + q \log \frac{q}{p+q}
# = -\log 4 + \mathrm{KL}(p\,\|\,m) + \mathrm{KL}(q\,\|\,m) = -\log 4 + 2\,\mathrm{JSD}(p\,\|\,q).$$
#
# So against a perfect D, a generator that minimises $V$ itself — the
# *saturating* loss $\log(1 - D(G(z)))$ of the minimax game — minimises the
# Jensen–Shannon divergence between the real and the generated distribution,
# and the game's optimum is $q = p$ with $V = -\log 4$ and $D^* = \tfrac12$
# everywhere. (Section 1.5 shows that the loss G is actually trained with, the
# non-saturating one, minimises something else.) Checked on the grid:

# %%
# NBVAL_CHECK_OUTPUT
def kl(a, b, step=dx):
    mask = a > 0
    return float(np.sum(a[mask] * np.log(a[mask] / b[mask])) * step)


m = (p + q) / 2
jsd = 0.5 * kl(p, m) + 0.5 * kl(q, m)
v_star = float(np.sum(p * np.log(d_star) + q * np.log(1 - d_star)) * dx)
print(f"V(D*, G) = {v_star:.4f} | -log 4 + 2 JSD = {-np.log(4) + 2 * jsd:.4f} | JSD = {jsd:.4f} (at most log 2 = {np.log(2):.4f})")

# %% [markdown]
# The catch is the "at most log 2". Move the generated distribution away from
# the real one: once the two barely overlap, JSD sits at $\log 2$ whatever the
# distance, so its slope — the signal that would tell G which way to move — is
# almost zero. The **Wasserstein-1 distance** (the earth mover's distance) keeps
# growing with the distance; for two Gaussians of equal width it is simply the
# distance between their means. This is the picture behind the Wasserstein GAN.

# %%
shifts = np.linspace(0, 8, 81)
wide = np.linspace(-8, 16, 2401)  # wide enough to hold both distributions at every shift
p_wide, jsds = normal(wide, 0.0, 1.0), []
for shift in shifts:
    qs = normal(wide, shift, 1.0)
    ms = (p_wide + qs) / 2
    jsds.append(0.5 * kl(p_wide, ms, wide[1] - wide[0]) + 0.5 * kl(qs, ms, wide[1] - wide[0]))
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(shifts, jsds, label="JSD(p, q)")
ax.axhline(np.log(2), color="grey", ls=":", label="log 2")
ax.plot(shifts, shifts, label="Wasserstein-1 = shift (equal widths)")
ax.set(xlabel="shift of q = N(shift, 1) away from p = N(0, 1)", ylim=(0, 3))
ax.legend(fontsize=8)
plt.show()
print(f"slope of JSD at shift 1: {np.gradient(jsds, shifts)[10]:.3f} | at shift 6: {np.gradient(jsds, shifts)[60]:.5f}")

# %% [markdown]
# ## 1.4 · The saturating and the non-saturating generator loss
#
# In the minimax game G minimises $\log(1 - D(G(z)))$ — the kit's
# `losses.g_loss_saturating`. Early in training D rejects the fakes confidently: its
# logit $\ell = \text{logit}\,D(G(z))$ is very negative. Differentiate with
# respect to that logit:
#
# $$\frac{\partial}{\partial \ell} \log(1 - \sigma(\ell)) = -\sigma(\ell) \;\to\; 0 \quad (\ell \to -\infty),$$
#
# the gradient vanishes exactly when G is worst. Goodfellow et al. already
# proposed the fix: let G *maximise* $\log D(G(z))$ instead, i.e. minimise
# $-\log \sigma(\ell)$ — the kit's `losses.g_loss_bce`, the **non-saturating** loss:
#
# $$\frac{\partial}{\partial \ell} \bigl(-\log \sigma(\ell)\bigr) = -(1 - \sigma(\ell)) \;\to\; -1 \quad (\ell \to -\infty).$$
#
# For one image, both push its logit $\ell$ up: same sign, and the strength
# differs. Here are the two gradients, computed by `tf.GradientTape` from the
# kit's own loss functions, one logit at a time:

# %%
print(inspect.getsource(losses.g_loss_saturating))
print(inspect.getsource(losses.g_loss_bce))

# %%
logits = tf.Variable(np.linspace(-12, 6, 181).astype("float32")[:, None])
gradients = {}
for name, loss_fn in (("saturating  log(1 - D(G(z)))", losses.g_loss_saturating),
                      ("non-saturating  -log D(G(z))", losses.g_loss_bce)):
    with tf.GradientTape() as tape:
        total = loss_fn(logits) * logits.shape[0]  # the losses average over the batch: undo it
    gradients[name] = np.abs(tape.gradient(total, logits).numpy()[:, 0])
fig, ax = plt.subplots(figsize=(7, 3.2))
for name, values in gradients.items():
    ax.semilogy(logits.numpy()[:, 0], values, label=name)
ax.axvspan(-12, -4, color="grey", alpha=0.15)
ax.text(-11.5, 2e-4, "D confidently rejects the fakes\n(the start of training)", fontsize=8)
ax.set(xlabel="D's logit for a generated image", ylabel="|∂ loss / ∂ logit|")
ax.legend(fontsize=8)
plt.show()
for at in (-10, -5, 0):
    i = int(np.argmin(np.abs(logits.numpy()[:, 0] - at)))
    print(f"logit {at:+d}: saturating {list(gradients.values())[0][i]:.2e}, non-saturating {list(gradients.values())[1][i]:.3f}")

# %% [markdown]
# At a logit of −10 the saturating loss passes G a gradient about 20,000 times
# smaller than the non-saturating one. The gallery below trains both: the
# "saturating" case is that curve in practice.
#
# **Not only weaker: a different direction.** G's weights $\theta$ get the sum
# over the batch of $\partial \text{loss}/\partial \ell_i \cdot \nabla_\theta \ell_i$.
# The saturating loss weights sample $i$ by $\sigma(\ell_i)$ — it listens most
# to the fakes D already half-believes — and the non-saturating one by
# $1 - \sigma(\ell_i)$, the fakes D rejects. Different weights per sample give
# a weighted sum that points elsewhere, not the same vector scaled. A check with
# the smallest possible G — $G(z) = a z + b$ in one dimension, so $q = \mathcal{N}(b, a^2)$ —
# against the best D of section 1.2 for $q = \mathcal{N}(2, 0.7^2)$:


# %%
a_b = tf.Variable([0.7, 2.0], dtype=tf.float64)  # G(z) = a z + b draws q = N(2, 0.7²)
z = tf.constant(rng.normal(size=(512, 1)))


def d_star_logit(x):
    """log p(x) - log q(x): the logit of D* = p / (p + q) for p = N(0, 1), q = N(2, 0.7²)."""
    return -0.5 * x**2 + 0.5 * ((x - 2.0) / 0.7) ** 2 + np.log(0.7)


weight_gradients = {}
for name, loss_fn in (("saturating", losses.g_loss_saturating), ("non-saturating", losses.g_loss_bce)):
    with tf.GradientTape() as tape:
        loss = loss_fn(tf.cast(d_star_logit(a_b[0] * z + a_b[1]), tf.float32))
    weight_gradients[name] = tape.gradient(loss, a_b).numpy()
    print(f"{name:>14}: gradient on (a, b) = {np.round(weight_gradients[name], 3)}")
g_sat, g_ns = weight_gradients.values()
cosine = g_sat @ g_ns / (np.linalg.norm(g_sat) * np.linalg.norm(g_ns))
print(f"cosine between the two: {cosine:.2f} (1 would mean the same direction) -> {np.degrees(np.arccos(cosine)):.0f}° apart")

# %% [markdown]
# The two losses send G's two weights about 40° apart: a step along the
# non-saturating gradient mostly moves the mean $b$ towards the data, while the
# saturating one spends more of its step on the spread $a$. Same fixed point, a
# different path — and, as the next section shows, a different objective.
#
# ## 1.5 · What the non-saturating loss minimises
#
# Section 1.3 showed that against the best D the *saturating* loss makes G
# minimise $2\,\mathrm{JSD}(p\,\|\,q) - \log 4$. The loss every practical GAN
# uses is the non-saturating one, and for it that statement is wrong. Arjovsky &
# Bottou (2017, Theorem 2.5) showed that, with D held at $D^*$, the expected
# gradient of $-\log D^*(G(z))$ is the gradient of
#
# $$\mathrm{KL}(q\,\|\,p) - 2\,\mathrm{JSD}(p\,\|\,q).$$
#
# A check on the 1-D example of section 1.2: move $q = \mathcal{N}(\mu, 0.7^2)$
# a tiny step either side of $\mu = 2$ with D frozen at the $D^*$ of $\mu = 2$,
# and compare the slope of each loss with the slope of the objective it is
# claimed to minimise (central differences on the grid):

# %%
# NBVAL_CHECK_OUTPUT
def q_at(mu):
    return normal(x, mu, 0.7)


def jsd_of(a, b, step=dx):
    mixture = (a + b) / 2
    return 0.5 * kl(a, mixture, step) + 0.5 * kl(b, mixture, step)


mu0, h = 2.0, 1e-4
q0 = q_at(mu0)
losses_with_frozen_d = {
    "non-saturating  E_q[-log D*]": lambda mu: np.sum(q_at(mu) * np.log((p + q0) / p)) * dx,
    "saturating  E_q[log(1 - D*)]": lambda mu: np.sum(q_at(mu) * np.log(q0 / (p + q0))) * dx,
}
objectives = {
    "non-saturating  E_q[-log D*]": ("KL(q||p) - 2 JSD", lambda mu: kl(q_at(mu), p) - 2 * jsd_of(p, q_at(mu))),
    "saturating  E_q[log(1 - D*)]": ("2 JSD", lambda mu: 2 * jsd_of(p, q_at(mu))),
}
for name, loss_fn in losses_with_frozen_d.items():
    objective_name, objective = objectives[name]
    slope_loss = (loss_fn(mu0 + h) - loss_fn(mu0 - h)) / (2 * h)
    slope_objective = (objective(mu0 + h) - objective(mu0 - h)) / (2 * h)
    print(f"{name}: slope {slope_loss:.5f} | slope of {objective_name}: {slope_objective:.5f}")

# %% [markdown]
# The slopes agree to every printed digit, and they differ between the two
# losses: the non-saturating G is pushed more than three times harder at this
# point, and towards a different optimum of a different objective.
#
# Why it matters: $\mathrm{KL}(q\,\|\,p)$ is huge where G puts mass that the
# data does not have, and cheap where the data has mass that G ignores, and the
# $-2\,\mathrm{JSD}$ term even *rewards* being far from the data. Compare three
# generators for data with two modes, $p = \tfrac12\mathcal{N}(-2, 0.5^2) + \tfrac12\mathcal{N}(2, 0.5^2)$:

# %%
# NBVAL_CHECK_OUTPUT
grid = np.linspace(-10, 10, 4001)  # wide enough for the spread-out candidate's tails
step = grid[1] - grid[0]
p_two = 0.5 * normal(grid, -2, 0.5) + 0.5 * normal(grid, 2, 0.5)
candidates = {"one mode only  N(-2, 0.5²)": normal(grid, -2, 0.5), "both, spread out  N(0, 2.1²)": normal(grid, 0, 2.1),
              "both modes  (q = p)": p_two}
print(f"{'generator q':<30}{'2 JSD':>8}{'KL(q||p) - 2 JSD':>19}")
for name, q_candidate in candidates.items():
    two_jsd = 2 * jsd_of(p_two, q_candidate, step)
    print(f"{name:<30}{two_jsd:>8.3f}{kl(q_candidate, p_two, step) - two_jsd:>19.3f}")

# %% [markdown]
# Both objectives are 0 only at $q = p$. But between the two imperfect
# generators, JSD (the saturating loss's objective) slightly prefers the one
# that spreads over both modes, while the non-saturating objective prefers —
# by a factor of almost seven — the generator that **drops a mode** and covers
# the other one well. That is the theory behind mode collapse: a G trained with
# the non-saturating loss against a strong D is rewarded for staying where D
# believes it, not for covering everything. The hinge loss's G
# ($-\mathbb{E}\,\ell$) is a different game again, with no JSD to point to
# (next section).
#
# ## 1.6 · Where the hinge and Wasserstein losses fit
#
# - **Wasserstein (WGAN, Arjovsky et al. 2017).** The Wasserstein-1 distance is
#   $W_1(p, q) = \sup_{\lVert f \rVert_L \le 1} \mathbb{E}_p f(x) - \mathbb{E}_q f(x)$:
#   the best 1-Lipschitz "critic" $f$ (no sigmoid, any real score) measures the
#   distance of the previous plot, which does not saturate. The critic minimises
#   $\mathbb{E}_q f - \mathbb{E}_p f$ (`losses.d_loss_wasserstein`), G minimises
#   $-\mathbb{E}_q f(G(z))$ (`losses.g_loss_mean`). Everything rests on the
#   Lipschitz constraint: WGAN-GP enforces it softly with a gradient penalty
#   (`GAN(gp_weight=10)`), spectral normalisation bounds it layer by layer
#   (notebook 03: bounded, not ≤ 1).
# - **Hinge (Lim & Ye 2017; Miyato et al. 2018).** D minimises
#   $\mathbb{E}_p[\max(0, 1 - \ell)] + \mathbb{E}_q[\max(0, 1 + \ell)]$: a
#   margin version of the critic that stops pushing once a real score is above
#   +1 or a fake below −1, so D's scores cannot run away. G uses the same loss
#   as WGAN, $-\mathbb{E}_q\,\ell$. The kit's default, with spectral norm.
#
# Two numbers worth knowing (they are what `callbacks.TrainingHealth` compares
# D's loss with for its "D at chance" alarm): a D that outputs 0 for everything
# has hinge loss 1 + 1 = 2 and BCE loss 2 log 2 ≈ 1.386. And the reason the
# critic needs its constraint: scale its scores and its loss scales with them,
# without bound; the hinge loss does not.

# %%
# NBVAL_CHECK_OUTPUT
zeros = np.zeros((8, 1), "float32")
print("D outputs 0 everywhere -> hinge", float(losses.d_loss_hinge(zeros, zeros)), "| BCE", round(float(losses.d_loss_bce(zeros, zeros)), 4),
      "| the kit's chance levels:", {k: round(v, 4) for k, v in losses.CHANCE_D_LOSS.items()})
for scale in (1, 10, 100):
    real_scores, fake_scores = np.full((8, 1), scale, "float32"), np.full((8, 1), -scale, "float32")
    print(f"scores ±{scale:>3}: Wasserstein critic loss {float(losses.d_loss_wasserstein(real_scores, fake_scores)):>7.1f} | "
          f"hinge {float(losses.d_loss_hinge(real_scores, fake_scores)):.1f}")

# %% [markdown]
# ## 1.7 · A toy GAN, live: collapse and a fix
#
# The theory says the non-saturating G is paid for covering *some* of the data
# well. Here it is in two dimensions, where we can see every sample: the real
# data are eight Gaussians on a ring, G and D are small multilayer perceptrons,
# the losses are the kit's BCE pair. We count a mode as covered when at least
# 2 % of 2,000 samples land within 0.3 of its centre (the modes have a standard
# deviation of 0.05). Three runs, same seed, same number of D steps:
#
# 1. one G step per D step (the usual game);
# 2. **five** G steps per D step: G outruns a D that cannot keep up — the toy
#    version of a G that outruns D (the gallery's "collapse" case below, where
#    G gets ten times D's learning rate);
# 3. the same five G steps, but D also sees the **standard deviation of the
#    batch** as an extra input (minibatch standard deviation, Karras et al.
#    2018): a batch of fakes crowded into one mode has a much smaller spread
#    than a real batch, so D can tell it apart.

# %%
RING = 2.0 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], axis=1).astype("float32")


def ring_batch(n, rng, std=0.05):
    return (RING[rng.integers(0, 8, n)] + rng.normal(0, std, (n, 2))).astype("float32")


def modes_covered(points, radius=0.3, min_share=0.02):
    distance = np.linalg.norm(points[:, None] - RING[None], axis=-1)
    near = distance.min(axis=1) < radius
    counts = np.bincount(distance.argmin(axis=1)[near], minlength=8)
    return int((counts >= min_share * len(points)).sum())


def mlp(inputs, outputs):
    return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(128, activation="relu"),
                             keras.layers.Dense(128, activation="relu"), keras.layers.Dense(outputs)])


def train_toy(g_steps_per_d_step=1, minibatch_std=False, steps=TOY_STEPS, batch=256, seed=SEED):
    keras.utils.set_random_seed(seed)
    data_rng = np.random.default_rng(seed)
    G, D = mlp(8, 2), mlp(3 if minibatch_std else 2, 1)
    g_opt, d_opt = keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5)

    def logits(points):  # D's view: the point, plus the batch's spread if asked
        if minibatch_std:
            spread = tf.reduce_mean(tf.math.reduce_std(points, axis=0)) * tf.ones_like(points[:, :1])
            points = tf.concat([points, spread], axis=1)
        return D(points)

    @tf.function
    def d_step(real):
        with tf.GradientTape() as tape:
            loss = losses.d_loss_bce(logits(real), logits(G(tf.random.normal((batch, 8)))))
        d_opt.apply_gradients(zip(tape.gradient(loss, D.trainable_weights), D.trainable_weights))

    @tf.function
    def g_step():
        with tf.GradientTape() as tape:
            loss = losses.g_loss_bce(logits(G(tf.random.normal((batch, 8)))))
        g_opt.apply_gradients(zip(tape.gradient(loss, G.trainable_weights), G.trainable_weights))

    covered = []
    for step in range(1, steps + 1):
        d_step(ring_batch(batch, data_rng))
        for _ in range(g_steps_per_d_step):
            g_step()
        if step % (steps // 6) == 0:
            covered.append((step, modes_covered(G(tf.random.normal((2000, 8), seed=1)).numpy())))
    return G(tf.random.normal((2000, 8), seed=1)).numpy(), covered


toy_runs = {"1 G step per D step": train_toy(1), "5 G steps per D step": train_toy(5),
            "5 G steps + minibatch std in D": train_toy(5, minibatch_std=True)}
for name, (_, covered) in toy_runs.items():
    print(f"{name:<32} modes covered at steps {', '.join(f'{step}: {n}/8' for step, n in covered)}")

# %%
real_ring = ring_batch(2000, np.random.default_rng(1))
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (name, (points, covered)) in zip(axes, toy_runs.items()):
    ax.scatter(*real_ring.T, s=2, c="lightgrey", label="real")
    ax.scatter(*points.T, s=2, c="tab:red", alpha=0.4, label="generated")
    ax.set(title=f"{name}\n{covered[-1][1]}/8 modes after {covered[-1][0]} steps", xlim=(-3, 3), ylim=(-3, 3), aspect="equal")
    ax.title.set_fontsize(9)
axes[0].legend(fontsize=8, markerscale=4, loc="upper left")
plt.show()

# %% [markdown]
# With the usual one-to-one game G finds all eight modes after a few hundred
# steps (the counts above say when), with a thin trail of samples still
# strung between neighbouring modes. With five G steps per D step the same G
# piles its samples onto one or two modes and stays there: each time D learns to
# reject that spot, five G steps move the whole pile to the next spot D still
# believes, not to cover the ring. Giving D the batch's spread is enough to
# bring all eight back. (One seed; try others with `seed=`. In RESULTS.md the
# same idea — minibatch std — did *not* help the kit's brain GAN on its own:
# there the collapse came from too strong augmentation, not from a D that
# cannot see a batch. A fix works when it answers the cause.)

# %% [markdown]
# # Part 2 · What the article got wrong
#
# This kit was written to replace a widely shared blog post on generating
# medical images with GANs: "深度学习技术在医学影像生成中的应用" ("Applications
# of deep learning in medical image generation"), signed 禅与计算机程序设计艺术
# ("Zen and the Art of Computer Programming"). Its code does not train a GAN. Each of its steps, what goes wrong
# with it, and where the kit does it right:
#
# | the article's step | what goes wrong | done right in |
# |---|---|---|
# | **softmax** at the end of G and of D | softmax makes G's pixels a probability distribution (positive, summing to 1 over the image), not intensities; a softmax over D's single output is always exactly 1, so D's loss has no gradient (checked below) | G ends in `tanh`, pixels in [−1, 1] (02 §3); D outputs one unbounded logit and the losses take logits (03 §1, 04 "Three losses") |
# | **MSE losses** on D's probability (and on images) | MSE on a sigmoid output has the gradient $(\sigma - t)\,\sigma(1-\sigma)$, which vanishes when D is confidently *wrong* — the saturation of §1.4 again; MSE between generated and real images rewards the blurry average, not a realistic sample | BCE (non-saturating) or hinge on logits (04, §1.4–1.5 here); least squares on *raw* scores is a real loss (LSGAN: notebook 04, exercise 4) |
# | `Model(...)` built from layers that were never defined or connected | a `NameError` or a "graph disconnected" error, or a model that silently differs from the text; nothing runs | `models.build_generator` / `build_discriminator`, shapes printed and checked in 02 §3 and 03 §2, tested in `tests/test_models.py` |
# | `Sequential([G, D]).fit(noise, ones)` as "training" | one optimizer on one loss: if D is trainable inside the stack it learns to call the *fakes real*, and it never sees a real image; there is no D step, so no game | `GAN.train_step`: a D step on real *and* fake images, then a G step through a D whose weights stay fixed, two optimizers (04 "The training step, written out") |
# | a "generation rate" as the result | counting generated images (or the share D accepts) says nothing about fidelity, variety, copying or usefulness; a collapsed G that repeats one image scores perfectly | FD/KID and precision/recall/density/coverage against real-vs-real references, MS-SSIM diversity, memorisation, TSTR (notebook 05) |
# | **batch size 1** | every update follows the gradient of a single image, a very noisy estimate of the gradient over the data (measured below); batch norm in G then normalises each image by its own statistics only | batches of 32 from `data.to_tf_dataset` (01 §7, the recipe) |
# | downloading **unrelated images** to train on | a GAN learns whatever its data shows; images of other body parts, modalities or of no medicine at all give a model of *those*; their licences and the patients' consent are unknown | the dataset card, licences and load report (01), your own scans with per-patient splits and a privacy scan (07) |
#
# Two of these claims are easy to check here. A softmax over D's one output:

# %%
# NBVAL_CHECK_OUTPUT
one_output = tf.Variable(rng.normal(size=(4, 1)).astype("float32"))
with tf.GradientTape() as tape:
    probability = tf.nn.softmax(one_output, axis=-1)
    article_loss = tf.reduce_mean((probability - 0.0) ** 2)  # "fakes should score 0"
print("softmax over one output:", probability.numpy()[:, 0], "| gradient:", tape.gradient(article_loss, one_output).numpy()[:, 0])

# %% [markdown]
# And the noise of batch size 1. The gradient of a batch is an *estimate* of the
# gradient over all the data. Two estimates from different batches should point
# roughly the same way; we measure how well they agree (their cosine
# similarity: 1 = the same direction, 0 = unrelated) for D's loss on real brain
# slices, with batches of 1 and of 32 images.

# %%
real = data.load_dataset(DATASET, image_size=IMAGE_SIZE, split="train", seed=SEED)
D = models.build_discriminator(IMAGE_SIZE, real.channels)


def d_gradient(images):
    """D's weight gradient for the loss "these are real" (BCE), flattened to one vector."""
    with tf.GradientTape() as tape:
        loss = ops.mean(ops.softplus(-D(images, training=True)))
    return tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(loss, D.trainable_weights)], 0).numpy()


order = rng.permutation(len(real))
for size in (1, 32):
    cosines = []
    for pair in range(8):
        a, b = order[2 * pair * size : (2 * pair + 1) * size], order[(2 * pair + 1) * size : (2 * pair + 2) * size]
        ga, gb = d_gradient(real.batch_images(np.sort(a))), d_gradient(real.batch_images(np.sort(b)))
        cosines.append(ga @ gb / (np.linalg.norm(ga) * np.linalg.norm(gb)))
    print(f"batches of {size:>2}: cosine between the gradients of two different batches, mean of 8 pairs: {np.mean(cosines):.2f}")

# %% [markdown]
# Even for this untrained D, where every real image asks for much the same
# thing (a higher score), the gradients of two single images agree clearly less
# than those of two batches of 32, and some pairs much less. With batch size 1
# every step follows one such single-image direction; averaging 32 images is
# what makes each step point where the whole data set points.
#
# # Part 3 · A gallery of failures
#
# Every entry is a real training run made by `benchmarks/failure_gallery.py`:
# the kit's conditional GAN with today's recipe (nearest-neighbour upsampling,
# hinge loss, spectral norm, ADA-steered augmentation, EMA) on brain-mri at
# 64 px, the same data, seed and number of steps, with **one** thing changed. Each shows the final samples
# (the same 16 latents, one column per class, next to real images at the same
# scale) and the last reading of `callbacks.TrainingHealth`, the monitor of
# notebook 04: D's loss and accuracies, gradient norms, sample diversity against
# the real images (overall and the lowest class) and its alarms. The "grid
# strength" is that of notebook 02: the share of the samples' fine detail that
# repeats every 4 pixels (period 2 included); the "checkerboard strength" counts
# period 2 alone, the pattern of uneven overlap.

# %%
def show_case(case):
    """The stored grid of one gallery case beside the real grid, an enlarged crop, and its last health reading."""
    entry = gallery["cases"][case]
    panels = (("real.png", "real training images"), (f"{case}.png", f"{case}: {entry['what']}"),
              (f"{case}_zoom.png", "the centre of one sample, 6× enlarged"))
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.3), gridspec_kw={"width_ratios": [1, 1, 0.75]})
    for ax, (file, title) in zip(axes, panels):
        ax.imshow(pictures.from_png((gallery_dir / file).read_bytes())[..., 0], cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    plt.show()
    print(f"{entry['steps']} steps, loss {entry['loss']} · grid strength {entry['grid_strength']:.3f} · checkerboard "
          f"strength {entry['checkerboard_strength']:.4f} (real images: {gallery['real']['grid_strength']:.3f} and "
          f"{gallery['real']['checkerboard_strength']:.4f})")
    print(callbacks.TrainingHealth.describe(entry["records"][-1]))


def plot_health(cases):
    """D's accuracies and the diversity ratio over training, for several cases."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3))
    for case in cases:
        records = gallery["cases"][case]["records"]
        epochs = [r["epoch"] for r in records]
        axes[0].plot(epochs, [r["d_real_acc"] for r in records], label=case)
        axes[1].plot(epochs, [r["d_fake_acc"] for r in records], label=case)
        axes[2].plot(epochs, [r["diversity_ratio"] for r in records], label=case)
    for ax, title in zip(axes, ["D accuracy on real", "D accuracy on fake", "diversity / real diversity"]):
        ax.set(title=title, xlabel="epoch")
    axes[2].axhline(0.5, color="grey", ls=":")
    axes[0].legend(fontsize=7)
    plt.show()


show_case("baseline")

# %% [markdown]
# The kit's recipe, for reference. After 900 steps it draws the outline of
# each level at the right size — the cerebellum in pieces in the first column,
# dark ventricles and a midline in the second and third, the small vertex in the
# last — with bright, flat, blotchy interiors crossed by short vertical and
# horizontal streaks (the enlarged crop). Its health reading: D is right on
# about six images in ten, its hinge loss 1.76 (2 would be a D that outputs 0
# everywhere), G's gradient about 4, the overall diversity close to the real
# one and the lowest class at 0.88 — no alarm. Every case below is read against
# these numbers.

# %% [markdown]
# ## A strong D without spectral normalisation

# %%
show_case("no-sn-strong-d")
strong, base = gallery["cases"]["no-sn-strong-d"]["records"], gallery["cases"]["baseline"]["records"]
print("G's gradient norm, strong D / baseline, per epoch:",
      ", ".join(f"{s['g_grad_norm'] / b['g_grad_norm']:.1f}×" for s, b in zip(strong, base)))

# %% [markdown]
# Anatomical samples — dark ventricles in the second column, a midline in the
# third — under a coarse speckle, and the cerebellum in the first column is
# nearly the same small shape four times. The monitor has reasons to worry, but
# raises no alarm. D is right on more than nine real images in ten from the
# first epoch and on as many fakes from the fourth, its loss (0.27) is far below its chance level (BCE: 2 log 2 ≈ 1.39),
# and G's gradient is 2.3 times the baseline's in the first epoch and grows to
# between 6 and 7 times by the end (the ratio per epoch is printed above). The
# lowest class's diversity falls from 0.73 of the real one (epoch 6) to 0.51:
# just above the per-class alarm's line at 0.5.
#
# **Recognise it:** D's accuracies near 1 with large gradients, while the
# samples may still look good for a while. **Fix:** give D its limits back —
# spectral normalisation (or the R1 penalty, notebook 04 exercise 3),
# DiffAugment and the recipe's learning rate.

# %% [markdown]
# ## The saturating generator loss (with the same strong D)

# %%
show_case("saturating")

# %% [markdown]
# The same strong D; only G's loss changed, to the saturating
# $\log(1 - D(G(z)))$. After 900 steps G draws ragged bright blobs of about the
# right size, with no anatomy and no class you could name — the previous case,
# one line of code apart, drew ventricles. From the third epoch on D is right on
# 94–100 % of real and fake images, its loss near 0, and the "D wins" alarm
# (both accuracies above 0.98) fires in three of the last four epochs. G's gradient *norm* does not vanish (3.7 in epoch 6, 1.3 at
# the end, against the baseline's 4): without spectral norm D's logit is steep,
# so the small weight $\sigma(\ell)$ of each rejected fake (section 1.4) still
# multiplies large gradients. What vanishes is the weight on the fakes D
# rejects — exactly the ones G most needs to fix. The diversity ratio raises no
# alarm (blobs are very "diverse").
#
# **Recognise it:** D at about 100 % on real and fake, D's loss near 0, samples
# that stop improving while the gradient norm alone can look normal.
# **Fix:** the non-saturating loss (what `loss="bce"` uses) or the hinge loss —
# the previous case is exactly this run with that one change.

# %% [markdown]
# ## D's learning rate ×10

# %%
show_case("d-lr-x10")

# %% [markdown]
# D's learning rate ten times the recipe's. The samples lose their levels: the
# first column holds no cerebellum, the shapes are dented and uneven, and
# vertical streaks run through them. The grid strength (0.009) and the
# checkerboard strength (0.0036) are the highest of the gallery's
# nearest-neighbour runs, about twice the baseline's. The health monitor sees
# nothing wrong: D is right on about two images in three, G's gradient is 1.3 to
# 1.8 times the baseline's, and no alarm fires.
#
# **Recognise it:** samples that look worse than the baseline's at the same step
# (shapes, streaks, a higher grid strength) while losses and accuracies look
# normal. **Fix:** keep D's learning rate within a few times G's — the monitor
# itself suggests 2–4× when D is at chance — rather than ten.

# %% [markdown]
# ## Transposed convolutions: the grid

# %%
show_case("transpose")

# %% [markdown]
# G upsamples with 4×4 stride-2 transposed convolutions, the kit's choice until
# 2026-11 (notebook 02). The samples have the baseline's outlines, ventricles
# and blotchy interiors; their texture is a fine, even grain instead of the
# baseline's streaks. The numbers: grid strength 0.008 and checkerboard strength
# 0.0034, against the baseline's 0.005 and 0.0018 (real images: 0.004 and
# 0.0002). Kernel 4 with stride 2 overlaps evenly, so the pattern comes from the
# learned kernels, not from the overlap.
#
# ## A 3×3 stride-2 transposed convolution: the checkerboard

# %%
show_case("k3s2")

# %% [markdown]
# Kernel 3, stride 2: the uneven overlap of notebook 02, where a flat input
# through a kernel of ones came out as a checkerboard — and here, as in the
# original DCGAN, the last transposed convolution draws the image itself, with
# no 3×3 convolution after it to smooth the overlap. The outlines are soft, and
# the enlarged crop shows a fine pixel-level mottle rather than the baseline's
# streaks. The checkerboard strength is 0.0090:
# five times the baseline's and some forty times the real images' — the largest
# of the gallery. The eye, at this size, sees grain; the number sees its period.

# %% [markdown]
# **Recognise it:** a checkerboard in flat regions of the samples — in an
# enlarged crop, or in the checkerboard strength — more than in a glance at the
# grid. **Fix:** a kernel size divisible by the stride (4 with stride 2), or
# resize-then-convolve (`upsampling="nearest"`, notebook 02).

# %% [markdown]
# ## Mode collapse

# %%
show_case("collapse")

# %% [markdown]
# One change: G's learning rate ten times the recipe's (2e-3), so G moves
# faster than D can follow. These are the sharpest, most brain-like samples of
# the gallery — smooth, with ventricles and sulci — and that is the trap: in the
# second and third columns the four samples are the *same image*, and the
# cerebellum column repeats one shape three times. The overall diversity ratio
# looks fine (0.96), because the four classes still differ from one another;
# only the per-class ratios give it away (0.41 and 0.48 for the two middle
# classes), and `TrainingHealth`'s per-class alarm fires in epochs 4, 5 and 9 to
# 12. Beside it, from epoch 3 on, "D at chance": D calls almost every image real
# (its accuracy on fakes is 0.07 or less in every epoch), its hinge loss sits at 2, and G's gradient has dropped to a few
# hundredths of the baseline's — G found images D accepts and stopped exploring.
#
# **Recognise it:** identical samples within a class behind a normal overall
# diversity; per-class diversity below 0.5; D calling fakes real. **Fix:** the
# recipe's learning rates (G's no larger than D's). Not more augmentation: in
# RESULTS.md's ablation, strong DiffAugment was the main cause of collapse
# inside classes on this data, and minibatch standard deviation alone did not
# help (it rescued the toy GAN of section 1.7, whose collapse had another
# cause).

# %% [markdown]
# ## All cases side by side
#
# The health curves of every case over training, then one table of the last
# readings.

# %%
plot_health(list(gallery["cases"]))

# %% [markdown]
# Two things stand out in the curves. D's accuracy on real images stays above
# 0.9 for three runs — the saturating one, the strong D and the collapse — for three
# different reasons: D wins outright, D wins with G still learning, and D calls
# *everything* real (its accuracy on fakes, the middle panel, is near 0 for the
# collapse run). And the right panel is why the kit watches diversity *per
# class*: the collapse run's overall diversity is the highest of all in the first
# epoch and never falls below 0.88, while two of its classes end with less than
# half of their real variety.

# %%
print(f"{'case':<16}{'D loss':>7}{'D acc real':>11}{'D acc fake':>11}{'|grad G|':>10}{'diversity':>10}"
      f"{'lowest class':>13}{'grid':>7}{'checker':>9}  alarms")
for case, entry in gallery["cases"].items():
    last = entry["records"][-1]
    lowest = min((last.get("class_diversity_ratio") or {"-": float("nan")}).values())
    alarms = ", ".join(alarm.split(":")[0] for alarm in last["alarms"]) or "-"
    print(f"{case:<16}{last['d_loss']:>7.2f}{last['d_real_acc']:>11.2f}{last['d_fake_acc']:>11.2f}{last['g_grad_norm']:>10.3g}"
          f"{last['diversity_ratio']:>10.2f}{lowest:>13.2f}{entry['grid_strength']:>7.3f}{entry['checkerboard_strength']:>9.4f}  {alarms}")

# %% [markdown]
# ### Run one case yourself
#
# The same code that made the gallery, on `LIVE_CASE`, for `LIVE_EPOCHS` ×
# `LIVE_STEPS` steps (fewer than the gallery, so expect an earlier stage of the
# same story). Change `LIVE_CASE` in the parameters cell to any of the cases.

# %%
live = failure_gallery.run_case(LIVE_CASE, real, epochs=LIVE_EPOCHS, steps_per_epoch=LIVE_STEPS, seed=SEED,
                                quick=config.is_quick())
plt.figure(figsize=(4, 4))
plt.imshow(live["grid"], cmap="gray", vmin=0, vmax=255)
plt.title(f"{LIVE_CASE}, after {live['steps']} steps", fontsize=9)
plt.axis("off")
plt.show()
for record in live["records"]:
    print(callbacks.TrainingHealth.describe(record))

# %% [markdown]
# Compare the live reading with the stored one of the same case: with fewer
# steps (and, in quick mode, a tiny model) the story is at an earlier stage, and
# the signature the gallery describes for the case may already show — for the
# saturating loss, D right on more than nine images in ten by the second epoch.

# %% [markdown]
# ## What you learned
#
# - The GAN game: $\min_G \max_D V$; for a fixed G the best D is
#   $p/(p+q)$, and then a G with the saturating loss minimises
#   $2\,\mathrm{JSD} - \log 4$. With the non-saturating loss, G minimises
#   $\mathrm{KL}(q\,\|\,p) - 2\,\mathrm{JSD}$ instead, which rewards dropping a
#   mode; the toy GAN showed the collapse live, and a D that sees the batch's
#   spread undo it.
# - JSD saturates at $\log 2$ when the distributions do not overlap; the
#   Wasserstein distance keeps growing — the idea behind WGAN, whose critic
#   needs a Lipschitz constraint (gradient penalty, or spectral norm's bound).
# - The saturating G loss $\log(1 - D(G(z)))$ has a vanishing gradient exactly
#   when D wins; the non-saturating $-\log D(G(z))$ does not, and the two
#   weight the samples differently, so they move G's weights in different
#   directions, not only at different speeds. Hinge is a margin
#   version of the critic, with the same G loss as WGAN.
# - Softmax outputs, MSE on probabilities, a stacked `fit` and batch size 1
#   each break GAN training; a "generation rate" measures nothing about quality.
# - Failure modes have signatures in the samples and in the health monitor:
#   a strong D without limits shows accuracies above 0.9 and large G gradients
#   (while its samples may look good); the saturating loss against it, D right
#   on nearly every image and samples that stop improving; D's learning rate
#   ×10, worse shapes and streaks with normal-looking losses; transposed
#   convolutions, a grid and (kernel 3, stride 2) a checkerboard the number finds
#   better than the eye; G's learning rate ×10, the sharpest samples and a
#   collapse — identical samples per class behind a normal overall diversity,
#   with D calling every image real.

# %% [markdown]
# ## Exercises
#
# ### Exercise 1 · The Jensen–Shannon divergence
#
# Write `js_divergence(p, q)` for two discrete distributions (NumPy arrays of
# probabilities that each sum to 1; entries may be 0). Use natural logarithms.
# The check compares it with a reference on several pairs, including two that do
# not overlap at all (the answer must then be $\log 2$), and verifies
# $V(D^*) = -\log 4 + 2\,\mathrm{JSD}$ with your function.

# %%
def js_divergence(p, q):
    return 0.0  # YOUR CODE HERE


exercises.check_js_divergence(js_divergence)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def js_divergence(p, q):
#     m = (p + q) / 2
#
#     def kl(a, b):
#         mask = a > 0
#         return np.sum(a[mask] * np.log(a[mask] / b[mask]))
#
#     return 0.5 * kl(p, m) + 0.5 * kl(q, m)
# ```
#
# Leaving out the terms where $a = 0$ is what makes it finite for distributions
# that do not overlap ($0 \log 0 = 0$).
#
# </details>
#
# ### Exercise 2 · The two gradients at one logit
#
# Without autodiff: write `generator_gradients(logit)` that returns the pair
# (d/dℓ of the saturating loss $\log(1 - \sigma(\ell))$, d/dℓ of the
# non-saturating loss $-\log \sigma(\ell)$) for one image's logit. The check
# compares with `tf.GradientTape` on the kit's loss functions at several logits.

# %%
def generator_gradients(logit):
    return 0.0, 0.0  # YOUR CODE HERE


exercises.check_generator_gradients(generator_gradients)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def generator_gradients(logit):
#     s = 1 / (1 + np.exp(-logit))
#     return -s, -(1 - s)
# ```
#
# Both are negative (G raises the logit with either loss); at ℓ = −10 the first
# is −4.5·10⁻⁵, the second ≈ −1.
#
# </details>
#
# ### Exercise 3 · Read the health monitor
#
# Below are health readings of three gallery runs from the middle of their
# training (not the last readings of the table above), with their names hidden
# and their order shuffled. Which case is which? Answer with a dict such
# as `{"A": "saturating", "B": ..., "C": ...}` using the case names of the
# gallery. Read D's accuracies, the gradient norms and the diversity ratios
# before you look back at the pictures.

# %%
mystery = exercises.nb09.health_mystery(gallery)
for letter, record in mystery.items():
    print(letter, callbacks.TrainingHealth.describe(record))

# %%
answer = {"A": None, "B": None, "C": None}  # YOUR ANSWER
exercises.check_health_mystery(answer, gallery)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# answer = {"A": "collapse", "B": "saturating", "C": "no-sn-strong-d"}
# ```
#
# A: D calls every image real (accuracy 1.00 on real, 0.00 on fakes), its
# hinge loss is stuck at 2 ("D at chance"), G's gradient is near zero and the
# lowest class has about half its real variety — G found images D accepts and
# stopped exploring: the collapse. B: D is right on almost every real and fake
# image and its loss is near 0 — the saturating loss against a winning D (its
# gradient norm is not small, which is why the accuracies are the better clue).
# C: D is right on most images and G's gradient is several times the
# baseline's — a strong D without spectral normalisation, with G still learning
# through the non-saturating loss.
#
# </details>
