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
# # 03 · The discriminator: telling real from fake
#
# <!-- colab-badge -->
#
# The discriminator **D** is the generator's critic: it looks at an image and
# answers with one number, a *logit*, that is large when the image looks real and
# small (negative) when it looks fake. In this notebook we read the kit's D layer
# by layer, measure how much of the image each of its neurons can see (the
# *receptive field*), see what *spectral normalisation* does to its weights, learn
# how a class label enters through a *projection*, and finally train D on its
# own — no generator training yet — to tell real brain slices from fakes.
#
# **Learning goals**
#
# - describe D as a binary classifier that outputs a logit, and read its shapes;
# - compute a receptive field layer by layer and check it by measurement;
# - compute a matrix's largest singular value with power iteration, and explain
#   why spectral normalisation divides each weight matrix by it;
# - write the projection discriminator's logit (Miyato & Koyama, 2018);
# - train a D alone and read its accuracy curve and its scores.
#
# **Time:** about 15 minutes to read and run on a Colab GPU or a 2-core CPU
# (training D takes under a minute on CPU), plus 15 minutes of exercises.

# %%
# setup-cell

# %% [markdown]
# ## Setup imports

# %%
import inspect

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from matplotlib import patches
from scipy import ndimage

import medgan_helpers
from medgan_helpers import config, data, exercises, models

print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| medgan_helpers", medgan_helpers.__version__)

# %% [markdown]
# ## Parameters
#
# `D_TRAIN_STEPS` is how many batches D trains on in section 6 (quick mode, used
# by the automated tests, takes only a few).
#
# To use a MedMNIST 2-D set instead of brain MRI, set `DATASET = "pneumoniamnist"`
# (or `"bloodmnist"`, `"dermamnist"`, … with `IMAGE_SIZE` 28, 64 or 128); it
# downloads once (on Colab; offline, see the README's troubleshooting).

# %% tags=["parameters"]
DATASET = "brain-mri"
IMAGE_SIZE = 64
LATENT_DIM = 64  # the recipe's latent size and batch (recipe.gan_config())
SEED = 0
BATCH_SIZE = 32
LEARNING_RATE = 2e-4
D_TRAIN_STEPS = config.quick_or(300, 30)

# %%
config.seed_everything(SEED)
real = data.load_dataset(DATASET, image_size=IMAGE_SIZE, split="train", seed=SEED)
real_test = data.load_dataset(DATASET, image_size=IMAGE_SIZE, split="test", seed=SEED)
print(real)
print(real_test)

# %% [markdown]
# ## 1 · Real or fake?
#
# D's job is a yes/no question, so D is an ordinary image classifier with one
# output. That output is a **logit** $\ell$: any real number, turned into a
# probability "this image is real" by the sigmoid $\sigma(\ell) = 1/(1+e^{-\ell})$.
# $\ell > 0$ means "more likely real". The kit's losses work on logits directly
# (more precise than working on probabilities), so D has no sigmoid at the end.
#
# Before any GAN training, what could "fake" images be? Two easy kinds:
# uniform **noise** in [−1, 1], and the output of an **untrained generator**
# (notebook 02 showed it is flat, faintly textured grey).

# %%
rng = np.random.default_rng(SEED)
G = models.build_generator(image_size=IMAGE_SIZE, channels=real.channels, latent_dim=LATENT_DIM)


def make_noise(n):
    return rng.uniform(-1.0, 1.0, (n, IMAGE_SIZE, IMAGE_SIZE, real.channels)).astype("float32")


def make_untrained_g(n):
    z = rng.standard_normal((n, LATENT_DIM)).astype("float32")
    return np.asarray(G(z, training=False))


# %%
examples = {
    "real": real.batch_images(rng.choice(len(real), 6, replace=False)),
    "noise": make_noise(6),
    "untrained G": make_untrained_g(6),
}
fig, axes = plt.subplots(3, 6, figsize=(9, 4.8))
for row, (kind, images) in enumerate(examples.items()):
    for col in range(6):
        axes[row, col].imshow(images[col, :, :, 0], cmap="gray", vmin=-1, vmax=1)
        axes[row, col].axis("off")
    axes[row, 0].set_title(kind, fontsize=9, loc="left")
plt.show()

# %% [markdown]
# ## 2 · The kit's discriminator
#
# `models.build_discriminator` mirrors the generator backwards: four blocks, each
# a `Conv2D` with kernel 4 and stride 2 (which *halves* the picture) followed by a
# LeakyReLU with slope 0.2, take the image from 64×64 down to 4×4 while the
# channels grow 16 → 128 (the kit's default widths). Each convolution is wrapped
# in `SpectralNormalization` (section 4). The 4×4×128 map is flattened into
# 2,048 **features** $\phi(x)$, and a `Dense` layer named `realness` turns them
# into the logit. There is no batch norm in D: spectral normalisation does the
# stabilising. (The LeakyReLU is the kit's `LeakyReLUFromRelu`, written as
# $0.8\,\mathrm{relu}(x) + 0.2\,x$ — the same function; its docstring says why.)

# %%
D = models.build_discriminator(image_size=IMAGE_SIZE, channels=real.channels)
D.summary()

# %%
# NBVAL_CHECK_OUTPUT
print(f"{'layer':<16}{'type':<24}{'output shape':<16}{'parameters':>12}")
for layer in D.layers:
    shape = tuple(layer.output.shape[1:])
    print(f"{layer.name:<16}{type(layer).__name__:<24}{str(shape):<16}{layer.count_params():>12,}")
print(f"{'total':<56}{D.count_params():>12,}")

# %% [markdown]
# The parameters of a `SpectralNormalization` layer include the wrapped layer's
# kernel and bias, plus one small non-trainable vector `u` (one number per output
# channel) that section 4 explains. How D's size compares with the generator of
# notebook 02 (the untrained `G` built above):

# %%
# NBVAL_CHECK_OUTPUT
print(f"D: {D.count_params():,} parameters | G: {G.count_params():,} | D / G = {D.count_params() / G.count_params():.2f}")

# %% [markdown]
# D is about half of G's size here. That is a choice, not a law: the
# recipe sets the two widths separately (`d_base_filters`, `g_base_filters`),
# and notebook 09 trains a D twice as wide, without spectral normalisation.

# %% [markdown]
# ## 3 · The receptive field: how much does one neuron see?
#
# A neuron in the first block looks at a 4×4 patch of the image. A neuron in the
# second block looks at a 4×4 patch of the *first block's* map, and those
# neighbours sit 2 image pixels apart, so it sees 4 + (4 − 1)·2 = 10 pixels. In
# general each layer adds $(k - 1) \cdot j$, where $j$ — the *jump* — is the
# product of the strides of all the layers before it:
#
# $$r_L = r_{L-1} + (k_L - 1)\, j_{L-1}, \qquad j_L = j_{L-1}\, s_L, \qquad r_0 = j_0 = 1.$$
#
# Let us walk D's layers and apply it (`layer.layer` unwraps a spectral-norm
# wrapper to reach the `Conv2D` inside).

# %%
# NBVAL_CHECK_OUTPUT
field, jump = 1, 1
fields = {}
for layer in D.layers:
    conv = getattr(layer, "layer", layer)
    if isinstance(conv, keras.layers.Conv2D):
        kernel_size, stride = conv.kernel_size[0], conv.strides[0]
        field += (kernel_size - 1) * jump
        jump *= stride
        fields[layer.name] = field
        print(f"{layer.name:<16} kernel {kernel_size}, stride {stride} -> receptive field {field:>2}×{field:<2} jump {jump}")

# %% [markdown]
# So each of the 4×4 positions of the last block sees a 46×46 window of the
# 64×64 slice — most of it, but not all. The `realness` layer then combines all
# 16 positions, so the final logit depends on every pixel.
#
# We do not have to trust the formula: we can **measure** it. Take one neuron in
# the middle of a feature map, ask TensorFlow for the gradient of its value with
# respect to the input image, and see which pixels have a non-zero gradient.

# %%
def measured_field(layer_name, row, col, image):
    """Input pixels that influence the feature map `layer_name` at (row, col)."""
    cut = keras.Model(D.inputs, D.get_layer(layer_name).output)
    x = tf.Variable(image[None])
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(cut(x, training=False)[0, row, col, :])
    return np.abs(tape.gradient(value, x).numpy()[0, :, :, 0])


# %%
# NBVAL_CHECK_OUTPUT
slice_image = real_test.batch_images([len(real_test) // 2])[0]
for name in fields:
    size = D.get_layer(name).output.shape[1]
    grad = measured_field(name.replace("sn_down", "lrelu"), size // 2, size // 2, slice_image)
    rows, cols = np.flatnonzero(grad.sum(axis=1)), np.flatnonzero(grad.sum(axis=0))
    print(f"{name:<16} measured {rows.max() - rows.min() + 1}×{cols.max() - cols.min() + 1}, formula {fields[name]}×{fields[name]}")

# %% [markdown]
# Measurement and formula agree. Here are the four windows drawn on a brain
# slice, for the neuron in the middle of each feature map; the colour shows the
# measured gradient of the deepest one — the centre of the window matters most,
# its edges least.

# %%
fig, ax = plt.subplots(figsize=(4.6, 4.6))
ax.imshow(slice_image[:, :, 0], cmap="gray", vmin=-1, vmax=1)
deepest = list(fields)[-1]
grad = measured_field(deepest.replace("sn_down", "lrelu"), 2, 2, slice_image)
ax.imshow(np.ma.masked_equal(grad, 0), cmap="autumn", alpha=0.35)
for name, color in zip(fields, ["cyan", "lime", "yellow", "red"]):
    size = D.get_layer(name).output.shape[1]
    grad = measured_field(name.replace("sn_down", "lrelu"), size // 2, size // 2, slice_image)
    rows, cols = np.flatnonzero(grad.sum(axis=1)), np.flatnonzero(grad.sum(axis=0))
    ax.add_patch(patches.Rectangle((cols.min() - 0.5, rows.min() - 0.5), len(cols), len(rows), fill=False, color=color, lw=2, label=f"{name}: {fields[name]}×{fields[name]}"))
ax.legend(fontsize=7, loc="lower left")
ax.axis("off")
plt.show()

# %% [markdown]
# Why care? A D whose neurons see only small patches judges *texture*; a D
# whose neurons see the whole slice can judge *anatomy* (is there one brain,
# with two hemispheres, in the middle?). For 128 px images the kit adds a fifth
# block, which keeps the receptive field in step with the image (exercise 1).

# %% [markdown]
# ## 4 · Spectral normalisation
#
# If D changes its mind violently when an image changes a little, the gradients
# it hands to G are huge and erratic, and training blows up. One way to keep D
# smooth is to limit how much any layer can *stretch* its input. For a weight
# matrix $W$ the largest stretch factor is its largest **singular value**
# $\sigma(W) = \max_{v \ne 0} \lVert Wv \rVert / \lVert v \rVert$.
# Spectral normalisation (Miyato et al., 2018) uses $W / \sigma(W)$ in place of
# $W$. For a `Dense` layer that caps the layer's stretch at 1. For a convolution
# it caps something smaller than you might think: the $\sigma$ that is divided
# out is that of the *reshaped kernel* (below), not of the convolution as a map
# from a whole image to a whole feature map. Section 4 ends by measuring the
# difference: up to a factor 2 per 4×4 stride-2 layer, so the guarantee for the
# whole D is a bounded stretch, not a stretch of at most 1.
#
# Computing all singular values (an SVD) at every training step would be slow.
# **Power iteration** finds just the largest one: multiply a vector by $W^T$
# and by $W$ over and over, normalising each time, and it turns towards the
# direction that $W$ stretches most. For a convolution the kernel
# (4×4×in×out) is reshaped into a matrix with one column per output channel.

# %%
W = np.asarray(D.get_layer("sn_down_16x16").layer.kernel)
matrix = W.reshape(-1, W.shape[-1])
print("kernel", W.shape, "-> matrix", matrix.shape)

# %%
u = np.random.default_rng(SEED).standard_normal(matrix.shape[1])
estimates = []
for _ in range(30):
    v = matrix @ u
    v /= np.linalg.norm(v)
    u = matrix.T @ v
    u /= np.linalg.norm(u)
    estimates.append(float(v @ matrix @ u))  # sigma ≈ vᵀ W u
sigma_svd = np.linalg.svd(matrix, compute_uv=False)[0]
print(f"power iteration after 30 steps: {estimates[-1]:.5f}   numpy SVD: {sigma_svd:.5f}")

# %%
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(range(1, 31), estimates, "o-", ms=3, label="power iteration")
ax.axhline(sigma_svd, color="k", ls="--", label="numpy SVD")
ax.set_xlabel("iteration")
ax.set_ylabel("estimate of σ(W)")
ax.legend()
plt.show()

# %% [markdown]
# Keras 3's `SpectralNormalization` does **one** power-iteration step per
# training-mode call and keeps its vector `u` between calls, so the estimate
# $\hat\sigma$ sharpens as training goes on, for free. Then it does something a
# reader of the paper might not expect: in a call with `training=True` it
# **writes** $W/\hat\sigma$ (and the new `u`) **back into the wrapped layer's
# kernel** with `kernel.assign(...)`, and only then runs the convolution with
# that kernel. The weights stored in the model therefore change with every
# training-mode call, even when no optimizer step is taken. With
# `training=False` it does no power step and uses the kernel as last stored.
#
# Let us watch the largest singular value of every wrapped kernel (computed
# with NumPy's SVD from `layer.layer.kernel`, the stored weights) at
# initialisation, after one training-mode call, and after ten more — calls that
# train nothing.

# %%
def largest_singular_values(model):
    return {
        layer.name: np.linalg.svd(np.asarray(layer.layer.kernel).reshape(-1, layer.layer.kernel.shape[-1]), compute_uv=False)[0]
        for layer in model.layers
        if isinstance(layer, keras.layers.SpectralNormalization)
    }


D_sn = models.build_discriminator(image_size=IMAGE_SIZE, channels=real.channels)
history = {"at init": largest_singular_values(D_sn)}
batch = real.batch_images(np.arange(BATCH_SIZE))
D_sn(batch, training=True)
history["after 1 call"] = largest_singular_values(D_sn)
for _ in range(10):
    D_sn(batch, training=True)
history["after 11 calls"] = largest_singular_values(D_sn)

# %%
fig, ax = plt.subplots(figsize=(7, 3))
names = list(history["at init"])
for offset, (when, values) in zip([-0.25, 0, 0.25], history.items()):
    ax.bar(np.arange(len(names)) + offset, [values[n] for n in names], width=0.25, label=when)
ax.axhline(1.0, color="k", lw=0.8)
ax.set_xticks(range(len(names)), names, fontsize=8)
ax.set_ylabel("largest singular value")
ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, 1.18))
plt.show()

# %% [markdown]
# At initialisation the values are scattered around 1 (0.5 to 1.4, set by the
# random initialiser). After one call they overshoot (up to 1.4): a single power
# step from a random `u` *under*-estimates σ, so dividing by it leaves σ above 1.
# After a few more calls `u` has converged and every layer sits at σ ≈ 1. (The
# `realness` layer is a matrix with a single column, for which one step is
# already exact.) No optimizer ran here: every change in these bars was written
# into the kernels by the training-mode calls themselves. During GAN training
# the optimiser keeps nudging the weights, and each training-mode call pulls σ
# back towards 1.

# %% [markdown]
# ### How gradients treat σ
#
# Because the division happens in an `assign`, and an assignment has no
# gradient, σ̂ is invisible to backpropagation. The gradient the optimizer gets
# is the gradient with respect to the *stored, already normalised* kernel, as if
# it were a plain weight; σ̂ and `u` get none. The optimizer then steps that
# kernel freely, and the next training-mode call divides by σ̂ again. Miyato et
# al. instead differentiate through $W/\sigma(W)$ (with the power-iteration
# vectors held constant), which removes the part of the gradient that would only
# rescale $W$ along its top singular direction.
#
# A check on one wrapped convolution: Keras' gradient equals the gradient of an
# ordinary convolution whose kernel is the stored $W/\hat\sigma$, and differs
# from the paper's gradient through $W/\sigma(W)$.

# %%
sn_conv = keras.layers.SpectralNormalization(keras.layers.Conv2D(8, 4, strides=2, padding="same"))
x = tf.constant(batch[:4])
sn_conv(x)  # builds the layer (an inference call: nothing is written)
W_raw, u_raw = tf.constant(sn_conv.layer.kernel), tf.constant(sn_conv.vector_u)
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(sn_conv(x, training=True) ** 2)  # writes W / sigma into the kernel
grad_keras = tape.gradient(loss, sn_conv.layer.kernel)
W_stored, bias = tf.constant(sn_conv.layer.kernel), sn_conv.layer.bias


def loss_of(kernel):
    return tf.reduce_sum((tf.nn.conv2d(x, kernel, 2, "SAME") + bias) ** 2)


# %%
# NBVAL_CHECK_OUTPUT
W_plain = tf.Variable(W_stored)
with tf.GradientTape() as tape:
    plain_loss = loss_of(W_plain)
grad_plain = tape.gradient(plain_loss, W_plain)
W_paper = tf.Variable(W_raw)
with tf.GradientTape() as tape:  # the paper: one power step from the same u, then differentiate W / sigma(W)
    matrix = tf.reshape(W_paper, (-1, 8))
    v_vec = tf.stop_gradient(tf.math.l2_normalize(u_raw @ tf.transpose(matrix)))
    u_vec = tf.stop_gradient(tf.math.l2_normalize(v_vec @ matrix))
    sigma_hat = tf.reduce_sum((v_vec @ matrix) * u_vec)
    paper_loss = loss_of(W_paper / sigma_hat)
grad_paper = tape.gradient(paper_loss, W_paper)
print("stored kernel == W / sigma-hat:", np.allclose(W_stored, W_raw / sigma_hat, atol=1e-5))
print("Keras' gradient == plain gradient at the stored kernel:", np.allclose(grad_keras, grad_plain, rtol=1e-4, atol=1e-4))
print("Keras' gradient == the paper's gradient:", np.allclose(grad_keras, grad_paper, rtol=1e-2, atol=1e-2))

# %% [markdown]
# Both ways keep each reshaped kernel near σ = 1; they are different
# optimisation procedures, and the kit uses Keras' one.
#
# ### How much can a convolution stretch?
#
# Now the caveat from the start of this section. A convolution applies the same
# reshaped kernel to every window of the image, and with a 4×4 kernel and stride
# 2 every input pixel is read by up to 2 × 2 = 4 windows. The stretch of the
# whole convolution is therefore at least σ(reshaped kernel) and at most
# $\lceil k/s \rceil = 2$ times it. We measure the real stretch of each
# normalised convolution of `D_sn`, on the size of input it sees, with the same
# power iteration — run on the convolution itself: `tf.GradientTape` gives
# $C^\top C x$ as the gradient of $\tfrac12\lVert Cx\rVert^2$.

# %%
def conv_stretch(conv, input_shape, steps=50):
    """Largest ||C x|| / ||x|| of a convolution's linear part C (no bias), by power iteration."""
    x = tf.random.normal((1, *input_shape), seed=SEED)
    for _ in range(steps):
        x = x / tf.norm(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            half_energy = 0.5 * tf.reduce_sum(tf.nn.conv2d(x, conv.kernel, conv.strides, conv.padding.upper()) ** 2)
        x = tape.gradient(half_energy, x)  # C^T C x
    return float(tf.sqrt(tf.norm(x)))


# %%
stretches, sigmas = [], largest_singular_values(D_sn)
print(f"{'layer':<16}{'input':<14}{'σ(reshaped kernel)':>20}{'stretch of the conv':>22}{'ratio':>8}")
for layer in D_sn.layers:
    if isinstance(layer, keras.layers.SpectralNormalization) and isinstance(layer.layer, keras.layers.Conv2D):
        sigma = sigmas[layer.name]
        stretch = conv_stretch(layer.layer, layer.input.shape[1:])
        stretches.append(stretch)
        print(f"{layer.name:<16}{str(tuple(layer.input.shape[1:])):<14}{sigma:>20.2f}{stretch:>22.2f}{stretch / sigma:>8.2f}")
print(f"product over the {len(stretches)} convolutions: {np.prod(stretches):.1f}")

# %% [markdown]
# Every normalised kernel has σ ≈ 1, yet every convolution stretches its input
# by more than that — by a factor between 1 and 2, as predicted (the power
# iteration approaches the true stretch from below, so these are lower bounds).
# The first layer, with a single input channel, comes closest to 2. Chained, the
# four convolutions can stretch an image by up to the product of their stretches
# (LeakyReLU never stretches, the `Dense` layer `realness` at most by 1), and the
# guaranteed bound is $2^4 = 16$. So spectral normalisation gives D a
# **bounded** Lipschitz constant, one that growing weights cannot raise —
# not a constant of 1. (Exact per-layer normalisation of convolutions exists,
# e.g. Sedghi et al. 2019, at a much higher cost; the kit does not use it.)

# %% [markdown]
# ## 5 · Projection: telling D which class an image should be
#
# A conditional D answers "is this a *real slice through the basal ganglia*?".
# The naive way is to glue the label to the image as extra channels. The
# **projection discriminator** (Miyato & Koyama, 2018) does better with one
# inner product. With image features $\phi(x)$, the unconditional head $\psi$
# and a learned vector $e_y$ per class,
#
# $$D(x, y) = \underbrace{\psi(\phi(x))}_{\text{looks real?}} + \underbrace{\langle e_y, \phi(x) \rangle}_{\text{looks like class } y?}$$

# %%
fig, ax = plt.subplots(figsize=(9, 2.6))
boxes = {
    "image x": (0.02, 0.55), "conv blocks φ": (0.2, 0.55), "features φ(x)": (0.42, 0.55),
    "realness ψ": (0.64, 0.8), "label y": (0.2, 0.08), "embedding e_y": (0.42, 0.08),
    "⟨e_y, φ(x)⟩": (0.64, 0.3), "+  →  logit": (0.84, 0.55),
}
for text, (x0, y0) in boxes.items():
    ax.text(x0, y0, text, fontsize=10, va="center", bbox={"boxstyle": "round", "fc": "#dde8f5" if "y" not in text else "#f5e6d3"})
arrows = [((0.1, 0.55), (0.2, 0.55)), ((0.33, 0.55), (0.42, 0.55)), ((0.55, 0.6), (0.64, 0.78)), ((0.55, 0.5), (0.64, 0.33)),
          ((0.28, 0.08), (0.42, 0.08)), ((0.52, 0.13), (0.64, 0.27)), ((0.75, 0.78), (0.84, 0.6)), ((0.75, 0.32), (0.84, 0.5))]
for start, end in arrows:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->"})
ax.axis("off")
plt.show()

# %% [markdown]
# If $\phi(x)$ points the same way as $e_y$, the logit goes up: the features
# "look like" class $y$. Each class costs only one vector of 2,048 numbers. In
# the kit this is the `ClassProjection` layer; here is its `call`, printed from
# the package (the `spectral_norm` part divides the embedding table by its
# largest singular value, exactly as in section 4).

# %%
print(inspect.getsource(models.ClassProjection.call))

# %%
# NBVAL_CHECK_OUTPUT
D_cond = models.build_discriminator(image_size=IMAGE_SIZE, channels=real.channels, num_classes=len(real.class_names))
for name in ["features", "sn_realness", "label", "class_projection", "logit"]:
    layer = D_cond.get_layer(name)
    print(f"{name:<18}{type(layer).__name__:<24}{str(tuple(layer.output.shape[1:])):<10}{layer.count_params():>10,}")

# %% [markdown]
# The model's logit really is the sum of the two parts. We cut D open to read
# $\psi(\phi(x))$ and $\langle e_y, \phi(x)\rangle$ for four real slices, each
# scored once with each of the four labels.

# %%
# NBVAL_CHECK_OUTPUT
parts = keras.Model(D_cond.inputs, [D_cond.get_layer("sn_realness").output, D_cond.get_layer("class_projection").output, D_cond.output])
four_indices = np.arange(0, len(real_test), len(real_test) // 4)[:4]
four, four_labels = real_test.batch_images(four_indices), real_test.labels[four_indices]
every_label = np.repeat(np.arange(len(real.class_names)), 4)[:, None]
realness, projection, logit = (np.asarray(t)[:, 0] for t in parts([np.tile(four, (4, 1, 1, 1)), every_label], training=False))
print("logit == realness + projection:", np.allclose(logit, realness + projection, atol=1e-5))
print("realness is the same for every label:", np.allclose(realness.reshape(4, 4), realness[:4], atol=1e-6))

# %% [markdown]
# The realness part is the same for every label; only the projection changes.
# (D is untrained, so *which* label scores highest means nothing yet.)

# %%
fig, ax = plt.subplots(figsize=(7, 2.8))
for image_index in range(4):
    true_class = real.class_names[four_labels[image_index]].split(" /")[0]
    ax.plot(range(4), logit.reshape(4, 4)[:, image_index], "o-", label=f"slice {image_index} (really {true_class})")
ax.set_xticks(range(4), [name.split(" /")[0] for name in real.class_names], fontsize=8)
ax.set_xlabel("label given to D")
ax.set_ylabel("logit (untrained D)")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## 6 · Training D alone
#
# Now a real experiment: a fresh D learns to tell real training slices
# (target 1) from fakes (target 0) — half uniform noise, half images from the
# untrained generator. It is plain binary classification with the binary
# cross-entropy loss on logits, written as a small `tf.GradientTape` step (notebook
# 04 writes the full GAN step the same way, with the kit's hinge loss).
# We train for `D_TRAIN_STEPS` batches and record D's accuracy on every batch.

# %%
config.seed_everything(SEED)
D_alone = models.build_discriminator(image_size=IMAGE_SIZE, channels=real.channels)
optimizer = keras.optimizers.Adam(LEARNING_RATE, beta_1=0.5)
bce = keras.losses.BinaryCrossentropy(from_logits=True)
real_batches = iter(data.to_tf_dataset(real, batch_size=BATCH_SIZE, seed=SEED).repeat())
fake_pool = np.concatenate([make_noise(256), make_untrained_g(256)])  # fixed fakes: 256 of each


# %%
@tf.function
def train_d_step(real_images, fake_images):
    with tf.GradientTape() as tape:
        real_logits = D_alone(real_images, training=True)
        fake_logits = D_alone(fake_images, training=True)
        loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
    grads = tape.gradient(loss, D_alone.trainable_weights)
    optimizer.apply_gradients(zip(grads, D_alone.trainable_weights))
    return loss, real_logits, fake_logits


# %%
log = {"loss": [], "real": [], "noise": [], "untrained G": []}
half = BATCH_SIZE // 2
for _ in range(D_TRAIN_STEPS):
    real_images, _ = next(real_batches)
    pick = np.concatenate([rng.choice(256, half), 256 + rng.choice(256, half)])  # half noise, half G
    loss, real_logits, fake_logits = (np.asarray(t) for t in train_d_step(real_images, fake_pool[pick]))
    log["loss"].append(float(loss))
    log["real"].append(float(np.mean(real_logits > 0)))
    log["noise"].append(float(np.mean(fake_logits[:half] < 0)))
    log["untrained G"].append(float(np.mean(fake_logits[half:] < 0)))
print(f"after {D_TRAIN_STEPS} steps: loss {log['loss'][-1]:.4f}")

# %% [markdown]
# Accuracy per batch for each kind of image (a real image counts as right when
# its logit is > 0, a fake when it is < 0), and the loss. Note the log scale of
# the step axis on the left: D sorts the three kinds apart within a few dozen
# steps; after that it only grows more *confident* — the loss keeps falling.

# %%
fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 3))
steps = np.arange(1, D_TRAIN_STEPS + 1)
for kind in ["real", "noise", "untrained G"]:
    ax_acc.plot(steps, log[kind], label=kind, alpha=0.8)
ax_acc.set_xscale("log")  # the interesting part happens in the first few dozen steps
ax_acc.set_ylim(-0.05, 1.05)
ax_acc.set_xlabel("training step (log scale)")
ax_acc.set_ylabel("accuracy on the batch")
ax_acc.legend(fontsize=8)
ax_loss.semilogy(steps, log["loss"])
ax_loss.set_xlabel("training step")
ax_loss.set_ylabel("loss (log scale)")
plt.show()

# %% [markdown]
# The fair test uses images D never trained on: the **test** split of real
# slices and *new* fakes. The histogram shows D's logits for each group.

# %%
held_out = {
    "real (test split)": real_test.images,
    "noise (new)": make_noise(256),
    "untrained G (new z)": make_untrained_g(256),
}
scores = {kind: np.asarray(D_alone.predict(images, batch_size=128, verbose=0))[:, 0] for kind, images in held_out.items()}
for kind, logits in scores.items():
    correct = logits > 0 if kind.startswith("real") else logits < 0
    print(f"{kind:<22} n={len(logits):>4}  accuracy {correct.mean():.3f}  mean logit {logits.mean():+.2f}")

# %%
fig, ax = plt.subplots(figsize=(7, 3))
all_scores = np.concatenate(list(scores.values()))
bins = np.linspace(all_scores.min(), all_scores.max(), 80)
for kind, logits in scores.items():
    ax.hist(logits, bins=bins, alpha=0.6, label=kind)
ax.axvline(0, color="k", lw=0.8)
ax.set_xlabel("D's logit (> 0: 'real')")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Every untrained-G image gets almost the same logit (the one narrow bar): they
# are almost the same flat grey picture, so D needs to learn only one thing about
# them. And D's verdict on a few of them, as a probability $\sigma(\ell)$ that the
# image is real:

# %%
shown = {kind: np.sort(rng.choice(len(images), 5, replace=False)) for kind, images in held_out.items()}
fig, axes = plt.subplots(3, 5, figsize=(8, 5.2))
for row, (kind, images) in enumerate(held_out.items()):
    for col in range(5):
        index = shown[kind][col]
        probability = 1 / (1 + np.exp(-scores[kind][index]))
        axes[row, col].imshow(images[index, :, :, 0], cmap="gray", vmin=-1, vmax=1)
        axes[row, col].set_title(f"P(real) = {probability:.2f}", fontsize=8)
        axes[row, col].axis("off")
    axes[row, 0].text(-8, IMAGE_SIZE / 2, kind, rotation=90, va="center", ha="right", fontsize=8)
plt.show()

# %% [markdown]
# ### The signal G will receive
#
# In a GAN, G learns only through D: it moves its pixels in the direction that
# raises D's logit, the gradient $\partial \ell / \partial x$. We can already
# look at that gradient for a few untrained-G images, on our D trained alone.
# Red pixels: "brighter would look more real"; blue: "darker would". (The raw
# gradient carries a fine checkerboard from the stride-2 convolutions; we
# average it over 4×4 pixels to see the large-scale message.)

# %%
fakes = tf.constant(held_out["untrained G (new z)"][:4])
with tf.GradientTape() as tape:
    tape.watch(fakes)
    total_logit = tf.reduce_sum(D_alone(fakes, training=False))  # inside the tape: it must see every step
push = tape.gradient(total_logit, fakes).numpy()[:, :, :, 0]
fig, axes = plt.subplots(1, 5, figsize=(10, 2.4))
axes[0].imshow(held_out["real (test split)"][shown["real (test split)"][2], :, :, 0], cmap="gray", vmin=-1, vmax=1)
axes[0].set_title("a real slice, for reference", fontsize=8)
for ax, gradient in zip(axes[1:], push):
    gradient = ndimage.uniform_filter(gradient, size=4)  # average out the stride-2 checkerboard
    limit = np.abs(gradient).max()
    ax.imshow(gradient, cmap="coolwarm", vmin=-limit, vmax=limit)
    ax.set_title("∂ logit / ∂ pixel (smoothed)", fontsize=8)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# Three numbers describe these maps better than words: how many pixels D asks
# to get brighter, how alike the four maps are, and how the push in the central
# half of the image compares with the push in the outer frame.

# %%
smoothed = np.stack([ndimage.uniform_filter(gradient, size=4) for gradient in push])
centre = np.zeros(smoothed.shape[1:], bool)
centre[IMAGE_SIZE // 4 : 3 * IMAGE_SIZE // 4, IMAGE_SIZE // 4 : 3 * IMAGE_SIZE // 4] = True
frame = np.ones_like(centre)
frame[4:-4, 4:-4] = False
print(f"pixels asked to get brighter: {np.mean(smoothed > 0):.0%}")
print(f"smallest correlation between two of the four maps: {np.corrcoef(smoothed.reshape(4, -1)).min():.2f}")
print(f"mean push, central half / outer 4-pixel frame: {smoothed[:, centre].mean() / smoothed[:, frame].mean():.1f}")

# %% [markdown]
# What the maps show is blunter than anatomy. The common part of the request is
# "be brighter": about seven pixels in ten are red, and the push in the
# central half of the image is several times (2.7×) that in the outer frame.
# But the four maps are far from identical. Each has its own blue patches,
# "darker here", in different places, so much so that two of the maps are even
# slightly anti-correlated (the smallest correlation printed is negative). There is no outline of a brain in them and no dark ventricles to
# keep dark: trained against flat grey fakes and noise, D tells them from real
# slices mostly by how bright the middle of the image is; beyond that, its
# request differs from one fake to the next. (The faint horizontal stripes are
# what is left of the stride-2 pattern after smoothing.) Only when G stops being
# such an easy target (notebook 04) does D have a reason to use finer details.

# %% [markdown]
# D wins easily: these fakes are nothing like brains. That is exactly the
# situation at the start of GAN training, and it is why the two networks must
# train *together* — G improves only because D keeps telling it, through its
# gradients, what still looks wrong. A D that is far ahead gives G little to
# learn from; spectral normalisation and the hinge loss (notebook 04) keep
# those gradients useful.

# %% [markdown]
# ## What you learned
#
# - D is a binary classifier that outputs an unbounded logit ($\ell > 0$: real);
#   the kit's D halves the image four times (64 → 4) and reads 2,048 features.
# - Receptive field: $r \mathrel{+}= (k-1)\cdot j$, $j \mathrel{*}= s$ per layer;
#   the last block of the 64 px D sees 46×46 pixels, and we measured it with
#   gradients.
# - Spectral normalisation divides each (reshaped) weight matrix by its largest
#   singular value, estimated by power iteration (one step per training-mode
#   call in Keras). Keras 3 writes $W/\hat\sigma$ back into the kernel at every
#   such call, and $\hat\sigma$ gets no gradient.
# - What is guaranteed: a `Dense` layer stretches by at most 1; a 4×4 stride-2
#   convolution by at most 2 (we measured between 1 and 2), so D's stretch is
#   bounded — by the product over its layers — not by 1.
# - The projection discriminator adds $\langle e_y, \phi(x)\rangle$ to the
#   unconditional logit.
# - Alone, D learns to reject noise and untrained-G images within a few dozen
#   steps; GAN training is what makes the fakes harder.

# %% [markdown]
# ## Exercises
#
# ### Exercise 1 · A receptive-field function
#
# Turn the loop of section 3 into a function `receptive_field(layers)` where
# `layers` is a list of `(kernel_size, stride)` pairs, first layer first. The
# check tries it on several stacks, some with stride-1 layers. Then use it:
# how much does the last block of the **128 px** D (five blocks of kernel 4,
# stride 2) see?

# %%
def receptive_field(layers):
    # YOUR CODE HERE: return the receptive field in pixels (an int)
    return None


exercises.check_receptive_field(receptive_field)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def receptive_field(layers):
#     field, jump = 1, 1
#     for kernel_size, stride in layers:
#         field += (kernel_size - 1) * jump
#         jump *= stride
#     return field
#
# receptive_field([(4, 2)] * 5)   # 94
# ```
#
# The fifth block adds 3 · 16 = 48 pixels: 46 + 48 = 94. Each of the 4×4
# positions of the 128 px D sees 94×94 of the 128×128 pixels, about the same
# fraction as in the 64 px D.
#
# </details>
#
# ### Exercise 2 · Power iteration as a function
#
# Write `largest_singular_value(W)` for any 2-D NumPy array (tall, wide or
# square) using power iteration — not `np.linalg.svd`. The check compares it
# with the SVD on four random matrices (1 % tolerance). Then try it on the
# reshaped kernel of `D.get_layer("sn_down_8x8")` before and after a few
# training-mode calls of `D`.

# %%
def largest_singular_value(W, steps=50):
    # YOUR CODE HERE: return one number
    return None


exercises.check_largest_singular_value(largest_singular_value)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def largest_singular_value(W, steps=50):
#     u = np.ones(W.shape[1])
#     for _ in range(steps):
#         v = W @ u
#         v /= np.linalg.norm(v)
#         u = W.T @ v
#         u /= np.linalg.norm(u)
#     return float(v @ W @ u)
# ```
#
# </details>
#
# ### Exercise 3 · The projection logit in NumPy
#
# Write `projection_logits(features, weight, bias, embeddings, labels)`:
# `features` is N×F (the $\phi(x)$ of N images), `weight` (F,) and `bias` form
# the unconditional head $\psi$, `embeddings` is C×F (one row $e_y$ per class) and
# `labels` holds N class indices. Return the N logits.

# %%
def projection_logits(features, weight, bias, embeddings, labels):
    # YOUR CODE HERE: return an array of N logits
    return None


exercises.check_projection_logits(projection_logits)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def projection_logits(features, weight, bias, embeddings, labels):
#     unconditional = features @ weight + bias
#     projection = np.sum(embeddings[labels] * features, axis=1)
#     return unconditional + projection
# ```
#
# </details>
