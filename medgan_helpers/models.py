"""The generator G and the discriminator D, as plain Keras 3 functional models.

``build_generator`` turns a latent vector ``z`` (and, for a conditional model, a
class label) into an image in [-1, 1]; ``build_discriminator`` turns an image
(and a label) into one unbounded "realness" logit per image.

Design choices, each one a lesson of the notebooks:

- **DCGAN-style generator** (Radford et al. 2016): ``Dense`` -> reshape to a small
  feature map (4x4, or 7x7 for 28 px images) -> blocks that double the
  resolution (transposed convolution + batch norm + ReLU) -> a 3x3 convolution
  to the image channels -> ``tanh``.
- **Discriminator** = strided convolutions + LeakyReLU, optionally wrapped in
  spectral normalisation (Miyato et al. 2018), which keeps D smooth without
  batch norm.
- **Class conditioning**: G concatenates a learned label embedding to ``z``;
  D uses a *projection* head (Miyato & Koyama 2018):
  ``logit = psi(phi(x)) + <embed(y), phi(x)>``.
- **No Lambda layers**: every custom piece is a registered, serialisable layer,
  so ``keras.models.load_model(path)`` works with ``safe_mode=True``.
- The final layers compute in float32, so the models are ready for
  ``mixed_float16`` training on a GPU.
"""

from __future__ import annotations

import importlib
from typing import Any

import keras
from keras import layers, ops

from medgan_helpers.generator_layers import BinomialBlur, PixelNorm
from medgan_helpers.recipe import GANConfig

_RECIPE = GANConfig()  # the builders' defaults are the recipe's

#: builder name (what a run folder records) -> "module:function" that builds the network again.
#: Names are resolved on use, so pix2pix's builders need no import here (no cycle).
BUILDERS: dict[str, str] = {
    "models.build_generator": "medgan_helpers.models:build_generator",
    "models.build_discriminator": "medgan_helpers.models:build_discriminator",
    "pix2pix.build_unet": "medgan_helpers.pix2pix_models:build_unet",
    "pix2pix.build_patch_discriminator": "medgan_helpers.pix2pix_models:build_patch_discriminator",
    "segmentation.build_segmenter": "medgan_helpers.segmentation:build_segmenter",
    "diffusion.build_denoiser": "medgan_helpers.diffusion_models:build_denoiser",
}
#: run folders written before the registry stored GAN networks without a builder name: their role says it
_BUILDER_OF_ROLE = {"generator": "models.build_generator", "discriminator": "models.build_discriminator"}


def record_build_settings(model: keras.Model, builder: str, settings: dict[str, Any]) -> keras.Model:
    """Keep on ``model`` the builder name and arguments that made it (what a run folder saves)."""
    if builder not in BUILDERS:
        raise ValueError(f"builder {builder!r} is not in models.BUILDERS; add it there to make it rebuildable.")
    # object.__setattr__: a plain attribute, not one Keras tracks (it is no layer state)
    object.__setattr__(model, "_medgan_build_settings", {"builder": builder, **settings})
    return model


def build_settings(model: keras.Model) -> dict | None:
    """The builder name and arguments that made ``model`` (``{"builder": ..., ...}``), or None."""
    found = getattr(model, "_medgan_build_settings", None)
    return dict(found) if found is not None else None


def rebuild(settings: dict[str, Any], role: str | None = None) -> keras.Model:
    """Build a network again from the settings a run folder recorded (``build_settings(model)``).

    ``role`` ("generator", "discriminator") names the builder of settings saved
    without one (GAN runs written before the registry).
    """
    settings = dict(settings)
    builder = settings.pop("builder", None) or _BUILDER_OF_ROLE.get(role or "")
    if builder not in BUILDERS:
        raise ValueError(f"no builder {builder!r} in models.BUILDERS (known: {', '.join(BUILDERS)}): "
                         "these settings were not made by the kit's builders.")
    module, function = BUILDERS[builder].split(":")
    return getattr(importlib.import_module(module), function)(**settings)


#: Supported image sizes -> (start resolution, number of x2 up/down-sampling blocks).
SUPPORTED_SIZES: dict[int, tuple[int, int]] = {
    28: (7, 2),  # 7 -> 14 -> 28   (MedMNIST's native size)
    32: (4, 3),  # 4 -> 8 -> 16 -> 32
    64: (4, 4),  # 4 -> ... -> 64
    128: (4, 5),  # 4 -> ... -> 128
}


def _check_image_size(image_size: int) -> tuple[int, int]:
    if image_size not in SUPPORTED_SIZES:
        valid = ", ".join(str(s) for s in SUPPORTED_SIZES)
        raise ValueError(
            f"image_size={image_size!r} is not supported: the models are built for "
            f"square images of {valid} pixels. Load the data at one of these sizes "
            f"(e.g. data.load_dataset(..., image_size=64))."
        )
    return SUPPORTED_SIZES[image_size]


def _check_positive(**knobs: int) -> None:
    """Each named knob is a positive int; the first that is not is named in the error."""
    for name, value in knobs.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer.")


def _check_num_classes(num_classes: int | None) -> None:
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
        raise ValueError(
            f"num_classes={num_classes!r}: use None for an unconditional model, "
            f"or the number of classes (>= 2) for a conditional one."
        )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not known: use {' or '.join(map(repr, choices))}.")


def _filters(base_filters: int, step: int, max_filters: int) -> int:
    """Width doubles per step away from the image: base, 2*base, 4*base, ... (capped)."""
    return min(base_filters * 2**step, max_filters)


@keras.saving.register_keras_serializable(package="medgan")
class ClassProjection(layers.Layer):
    """Projection conditioning for D (Miyato & Koyama 2018): ``<embed(y), phi(x)>``.

    Call with ``[features, label]``: ``features`` is ``phi(x)`` of shape
    (N, F), ``label`` an int tensor of shape (N, 1). Each class owns a learned
    vector ``embed(y)`` of length F; the output (N, 1) is its dot product with the
    image features — "how much do these features look like class y?".
    """

    def __init__(self, num_classes: int, spectral_norm: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.spectral_norm = bool(spectral_norm)

    def build(self, input_shape):
        feature_dim = int(input_shape[0][-1])
        self.class_embeddings = self.add_weight(
            name="class_embeddings",
            shape=(self.num_classes, feature_dim),
            initializer="glorot_uniform",
        )
        if self.spectral_norm:
            # One power-iteration vector, as in keras.layers.SpectralNormalization.
            self.vector_u = self.add_weight(
                name="vector_u",
                shape=(1, feature_dim),
                initializer=keras.initializers.RandomNormal(),
                trainable=False,
            )

    def call(self, inputs, training=False):
        features, label = inputs
        embeddings = self.class_embeddings
        if self.spectral_norm:
            # Divide the embedding matrix by its largest singular value (one power iteration).
            w = ops.cast(embeddings, "float32")
            v = ops.normalize(ops.matmul(self.vector_u, ops.transpose(w)), axis=-1, epsilon=1e-12)
            u = ops.normalize(ops.matmul(v, w), axis=-1, epsilon=1e-12)
            u = ops.stop_gradient(u)
            v = ops.stop_gradient(v)
            sigma = ops.sum(ops.matmul(v, w) * u)
            if training:
                self.vector_u.assign(u)
            embeddings = ops.cast(w / sigma, features.dtype)
        label = ops.reshape(ops.cast(label, "int32"), (-1,))
        class_vectors = ops.take(embeddings, label, axis=0)  # (N, F)
        return ops.sum(class_vectors * features, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "spectral_norm": self.spectral_norm,
        }


@keras.saving.register_keras_serializable(package="medgan")
class ConditionalBatchNorm(layers.Layer):
    """Batch norm whose scale and shift depend on the class (de Vries et al. 2017).

    Call with ``[features, label]``: the features are normalised over the batch
    (no learned affine of their own), then each class applies its own learned
    ``gamma`` (starting at 1) and ``beta`` (starting at 0) per channel. G can
    then change *how* every layer's features look per class, not only what goes
    into the first layer.
    """

    def __init__(self, num_classes: int, momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.momentum = float(momentum)
        self.norm = layers.BatchNormalization(center=False, scale=False, momentum=momentum,
                                              name="norm", dtype=self.dtype_policy)

    def build(self, input_shape):
        channels = int(input_shape[0][-1])
        self.norm.build(input_shape[0])
        self.gamma = self.add_weight(name="gamma", shape=(self.num_classes, channels), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(self.num_classes, channels), initializer="zeros")

    def call(self, inputs, training=False):
        features, label = inputs
        normalised = self.norm(features, training=training)
        label = ops.reshape(ops.cast(label, "int32"), (-1,))
        gamma = ops.take(self.gamma, label, axis=0)[:, None, None, :]
        beta = ops.take(self.beta, label, axis=0)[:, None, None, :]
        return normalised * ops.cast(gamma, normalised.dtype) + ops.cast(beta, normalised.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "momentum": self.momentum}


@keras.saving.register_keras_serializable(package="medgan")
class MinibatchStdDev(layers.Layer):
    """Append one feature map: how much the images of a small group differ (Karras et al. 2018).

    The batch is split into groups of ``group_size`` images; the standard
    deviation of every feature across each group, averaged to one number, is
    added as an extra channel. A collapsed G, whose images all look alike, gives
    itself away through a value near 0 that D can learn to punish.
    """

    def __init__(self, group_size: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size)

    def call(self, x):
        n = ops.shape(x)[0]
        height, width, channels = x.shape[1], x.shape[2], x.shape[3]
        group = ops.minimum(self.group_size, n)  # a smaller last batch still works
        y = ops.reshape(ops.cast(x, "float32"), (group, -1, height, width, channels))
        spread = ops.sqrt(ops.var(y, axis=0) + 1e-8)  # (N / group, H, W, C)
        spread = ops.mean(spread, axis=(1, 2, 3), keepdims=True)  # one number per group
        spread = ops.tile(spread, (group, height, width, 1))  # back to (N, H, W, 1)
        return ops.concatenate([x, ops.cast(spread, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size}


@keras.saving.register_keras_serializable(package="medgan")
class LeakyReLUFromRelu(layers.Layer):
    """LeakyReLU written as ``(1 - slope) * relu(x) + slope * x``: the same function, other ops.

    Why not ``keras.layers.LeakyReLU``: on CPU, TensorFlow's grappler remapper fuses
    ``Conv2D + BiasAdd + LeakyRelu`` even in a training graph, where the gradient
    op ``LeakyReluGrad`` still reads the BiasAdd output that the fusion removes; the
    remapper then aborts (``E0000 … remapper failed: … fanout …LeakyReluGrad exist
    for missing node …/BiasAdd``) and leaves the training step unfused. Without a
    LeakyRelu op there is nothing to mis-fuse, and ``ReluGrad`` reads the Relu's
    output. ``benchmarks/leaky_relu_remapper.py`` measures that training is as fast.
    """

    def __init__(self, negative_slope: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope)

    def call(self, x):
        return ops.relu(x) * (1.0 - self.negative_slope) + x * self.negative_slope

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


def build_generator(
    image_size: int = 64,
    channels: int = 1,
    latent_dim: int = _RECIPE.latent_dim,
    num_classes: int | None = None,
    *,
    base_filters: int = _RECIPE.g_base_filters,
    max_filters: int = _RECIPE.max_filters,
    embedding_dim: int = 32,
    upsampling: str = _RECIPE.upsampling,
    conditioning: str = _RECIPE.conditioning,
    norm: str = _RECIPE.g_norm,
    block_convs: int = _RECIPE.g_block_convs,
    name: str = "generator",
) -> keras.Model:
    """Build the DCGAN-style generator G: ``z`` (and ``label``) -> image in [-1, 1].

    Args:
        image_size: output side in pixels, one of 28, 32, 64, 128.
        channels: 1 for grey-scale scans, 3 for colour (e.g. dermatology).
        latent_dim: length of the latent vector ``z``.
        num_classes: None for an unconditional G; else the number of classes,
            and G takes a second input ``label`` (int, shape (1,)).
        base_filters: width of the last (full-resolution) block; each block
            closer to the latent doubles it (capped at ``max_filters``).
            The main knob for model size and speed.
        max_filters: cap on the width of any block.
        embedding_dim: length of the learned label embedding (``conditioning="embedding"``).
        upsampling: ``"transpose"`` (Conv2DTranspose, 4x4 kernel, stride 2: even
            overlap, but a learned kernel can still print a faint grid),
            ``"nearest"`` (UpSampling2D + 3x3 Conv2D: no transposed-convolution
            grid), ``"bilinear"`` (the same with bilinear upsampling: smoother) or
            ``"blur"`` (nearest, then a fixed binomial low-pass,
            ``generator_layers.BinomialBlur``, then the 3x3 Conv2D).
        conditioning: ``"embedding"`` (a label embedding concatenated to ``z``) or
            ``"cbn"`` (class-conditional batch norm in every block).
        norm: the normalisation of every block: ``"batch"`` (batch norm, DCGAN's
            choice; ``"cbn"`` conditioning needs it) or ``"pixel"`` (ProGAN's
            pixel-wise feature normalisation, ``generator_layers.PixelNorm``: no batch
            statistics, so the same function while training and while sampling).
        block_convs: 3x3 convolutions per block after the upsampling: 1 is DCGAN's
            shallow G (one convolution must both smooth the 2x2 copies and draw
            detail); 2 is ProGAN's / StyleGAN's block (the second sees a 5x5
            neighbourhood of the upsampled grid).

    Returns:
        A functional ``keras.Model`` with inputs ``z`` [and ``label``] and output
        ``image`` of shape (N, image_size, image_size, channels), tanh-bounded.
    """
    settings = {k: v for k, v in locals().items()}
    start, n_blocks = _check_image_size(image_size)
    _check_positive(channels=channels, latent_dim=latent_dim, base_filters=base_filters,
                    max_filters=max_filters, embedding_dim=embedding_dim, block_convs=block_convs)
    _check_num_classes(num_classes)
    _check_choice("upsampling", upsampling, ("transpose", "nearest", "bilinear", "blur"))
    _check_choice("conditioning", conditioning, ("embedding", "cbn"))
    _check_choice("norm", norm, ("batch", "pixel"))
    if norm != "batch" and conditioning == "cbn" and num_classes is not None:
        raise ValueError(f"conditioning='cbn' is class-conditional batch norm: it needs norm='batch', not {norm!r}.")

    z = keras.Input(shape=(latent_dim,), name="z")
    inputs = [z]
    x = z
    label = None
    if num_classes is not None:
        label = keras.Input(shape=(1,), dtype="int32", name="label")
        inputs.append(label)
        if conditioning == "embedding":
            embedded = layers.Embedding(num_classes, embedding_dim, name="label_embedding")(label)
            embedded = layers.Flatten(name="label_vector")(embedded)
            x = layers.Concatenate(name="z_and_label")([z, embedded])

    def normalise(x, size, nth=""):
        if label is not None and conditioning == "cbn":
            return ConditionalBatchNorm(num_classes, name=f"cbn{nth}_{size}x{size}")([x, label])
        if norm == "pixel":
            return PixelNorm(name=f"pixel_norm{nth}_{size}x{size}")(x)
        return layers.BatchNormalization(name=f"bn{nth}_{size}x{size}")(x)

    width = _filters(base_filters, n_blocks, max_filters)
    x = layers.Dense(start * start * width, use_bias=False, name="latent_to_features")(x)
    x = layers.Reshape((start, start, width), name=f"reshape_to_{start}x{start}x{width}")(x)
    x = normalise(x, start)
    x = layers.ReLU(name=f"relu_{start}x{start}")(x)

    size = start
    for block in range(n_blocks):
        size *= 2
        width = _filters(base_filters, n_blocks - 1 - block, max_filters)
        if upsampling == "transpose":
            x = layers.Conv2DTranspose(
                width, 4, strides=2, padding="same", use_bias=False, name=f"up_{size}x{size}"
            )(x)
        else:
            interpolation = "nearest" if upsampling == "blur" else upsampling
            x = layers.UpSampling2D(2, interpolation=interpolation, name=f"upsample_{size}x{size}")(x)
            if upsampling == "blur":
                x = BinomialBlur(name=f"blur_{size}x{size}")(x)
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv_{size}x{size}")(x)
        x = normalise(x, size)
        x = layers.ReLU(name=f"relu_{size}x{size}")(x)
        for extra in range(2, block_convs + 1):  # layer names of a 1-conv G stay as shipped models saved them
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{extra}_{size}x{size}")(x)
            x = normalise(x, size, extra)
            x = layers.ReLU(name=f"relu{extra}_{size}x{size}")(x)

    # float32 at the end, so mixed_float16 training still outputs float32 pixels.
    x = layers.Conv2D(channels, 3, padding="same", name="to_image", dtype="float32")(x)
    image = layers.Activation("tanh", name="tanh", dtype="float32")(x)
    model = keras.Model(inputs if len(inputs) > 1 else z, image, name=name)
    return record_build_settings(model, "models.build_generator", settings)


def build_discriminator(
    image_size: int = 64,
    channels: int = 1,
    num_classes: int | None = None,
    *,
    base_filters: int = _RECIPE.d_base_filters,
    max_filters: int = _RECIPE.max_filters,
    spectral_norm: bool = _RECIPE.spectral_norm,
    minibatch_std: bool = _RECIPE.minibatch_std,
    highpass: bool = _RECIPE.d_highpass,
    leaky_slope: float = 0.2,
    dropout: float = 0.0,
    name: str = "discriminator",
) -> keras.Model:
    """Build the discriminator D: ``image`` (and ``label``) -> realness logit.

    Args:
        image_size: input side in pixels, one of 28, 32, 64, 128.
        channels: image channels.
        num_classes: None for an unconditional D; else the number of classes and a
            projection head adds ``<embed(label), phi(image)>`` to the logit.
        base_filters: width of the first (full-resolution) block; doubles per
            block (capped at ``max_filters``).
        max_filters: cap on the width of any block.
        spectral_norm: wrap every convolution and the output layer in
            ``keras.layers.SpectralNormalization`` (and normalise the class
            embeddings the same way).
        minibatch_std: add a ``MinibatchStdDev`` channel before the last block.
        highpass: give D the image's high-frequency residual as extra channels
            (the image minus its ``BinomialBlur``, times 4): speckle and
            streaks become large inputs instead of small ripples that a
            spectrally normalised D barely feels.
        leaky_slope: negative slope of the LeakyReLU activations.
        dropout: dropout rate after each block (0 = none).

    Returns:
        A functional ``keras.Model`` with inputs ``image`` [and ``label``] and
        output ``logit`` of shape (N, 1): > 0 means "looks real". Logits are
        unbounded (no sigmoid); the losses in ``gan`` expect logits.
    """
    settings = {k: v for k, v in locals().items()}
    start, n_blocks = _check_image_size(image_size)
    _check_positive(channels=channels, base_filters=base_filters, max_filters=max_filters)
    _check_num_classes(num_classes)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout!r} must be in [0, 1).")

    def maybe_sn(layer, **kwargs):
        if not spectral_norm:
            return layer
        return layers.SpectralNormalization(layer, name=f"sn_{layer.name}", **kwargs)

    image = keras.Input(shape=(image_size, image_size, channels), name="image")
    inputs = [image]
    x = image
    if highpass:
        residual = layers.Subtract(name="highpass_residual")([image, BinomialBlur(name="highpass_blur")(image)])
        residual = layers.Rescaling(4.0, name="highpass_gain")(residual)
        x = layers.Concatenate(name="image_and_highpass")([image, residual])
    size = image_size
    for block in range(n_blocks):
        if minibatch_std and block == n_blocks - 1:
            x = MinibatchStdDev(name="minibatch_std")(x)
        size //= 2
        width = _filters(base_filters, block, max_filters)
        x = maybe_sn(layers.Conv2D(width, 4, strides=2, padding="same", name=f"down_{size}x{size}"))(x)
        x = LeakyReLUFromRelu(leaky_slope, name=f"lrelu_{size}x{size}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{size}x{size}")(x)
    assert size == start

    features = layers.Flatten(name="features")(x)  # phi(x)
    realness = maybe_sn(layers.Dense(1, name="realness", dtype="float32"), dtype="float32")(
        features
    )  # psi(phi(x))
    logit = realness
    if num_classes is not None:
        label = keras.Input(shape=(1,), dtype="int32", name="label")
        inputs.append(label)
        projection = ClassProjection(
            num_classes, spectral_norm=spectral_norm, name="class_projection", dtype="float32"
        )([features, label])
        logit = layers.Add(name="logit", dtype="float32")([realness, projection])
    else:
        logit = layers.Activation("linear", name="logit", dtype="float32")(realness)
    model = keras.Model(inputs if len(inputs) > 1 else image, logit, name=name)
    return record_build_settings(model, "models.build_discriminator", settings)


def layer_shapes(model: keras.Model) -> list[tuple[str, tuple]]:
    """(layer name, output shape without the batch axis) for every layer — for shape tables."""
    rows = []
    for layer in model.layers:
        shape = layer.output.shape if not isinstance(layer.output, list) else layer.output[0].shape
        rows.append((layer.name, tuple(shape[1:])))
    return rows


def is_conditional(model: keras.Model) -> bool:
    """True when the model takes a ``label`` input."""
    return any(t.name.startswith("label") for t in model.inputs) or len(model.inputs) > 1
