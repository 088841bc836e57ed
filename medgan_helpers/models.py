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

import keras
from keras import layers, ops

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


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer.")


def _check_num_classes(num_classes: int | None) -> None:
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
        raise ValueError(
            f"num_classes={num_classes!r}: use None for an unconditional model, "
            f"or the number of classes (>= 2) for a conditional one."
        )


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


def build_generator(
    image_size: int = 64,
    channels: int = 1,
    latent_dim: int = 128,
    num_classes: int | None = None,
    *,
    base_filters: int = 32,
    max_filters: int = 256,
    embedding_dim: int = 32,
    upsampling: str = "transpose",
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
        embedding_dim: length of the learned label embedding (conditional G only).
        upsampling: ``"transpose"`` (Conv2DTranspose, 4x4 kernel, stride 2) or
            ``"nearest"`` (UpSampling2D + 3x3 Conv2D, no checkerboard artefacts).

    Returns:
        A functional ``keras.Model`` with inputs ``z`` [and ``label``] and output
        ``image`` of shape (N, image_size, image_size, channels), tanh-bounded.
    """
    start, n_blocks = _check_image_size(image_size)
    for knob, value in [
        ("channels", channels),
        ("latent_dim", latent_dim),
        ("base_filters", base_filters),
        ("max_filters", max_filters),
        ("embedding_dim", embedding_dim),
    ]:
        _check_positive(knob, value)
    _check_num_classes(num_classes)
    if upsampling not in ("transpose", "nearest"):
        raise ValueError(
            f"upsampling={upsampling!r} is not known: use 'transpose' or 'nearest'."
        )

    z = keras.Input(shape=(latent_dim,), name="z")
    inputs = [z]
    x = z
    if num_classes is not None:
        label = keras.Input(shape=(1,), dtype="int32", name="label")
        inputs.append(label)
        embedded = layers.Embedding(num_classes, embedding_dim, name="label_embedding")(label)
        embedded = layers.Flatten(name="label_vector")(embedded)
        x = layers.Concatenate(name="z_and_label")([z, embedded])

    width = _filters(base_filters, n_blocks, max_filters)
    x = layers.Dense(start * start * width, use_bias=False, name="latent_to_features")(x)
    x = layers.Reshape((start, start, width), name=f"reshape_to_{start}x{start}x{width}")(x)
    x = layers.BatchNormalization(name=f"bn_{start}x{start}")(x)
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
            x = layers.UpSampling2D(2, interpolation="nearest", name=f"upsample_{size}x{size}")(x)
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv_{size}x{size}")(
                x
            )
        x = layers.BatchNormalization(name=f"bn_{size}x{size}")(x)
        x = layers.ReLU(name=f"relu_{size}x{size}")(x)

    # float32 at the end, so mixed_float16 training still outputs float32 pixels.
    x = layers.Conv2D(channels, 3, padding="same", name="to_image", dtype="float32")(x)
    image = layers.Activation("tanh", name="tanh", dtype="float32")(x)
    return keras.Model(inputs if len(inputs) > 1 else z, image, name=name)


def build_discriminator(
    image_size: int = 64,
    channels: int = 1,
    num_classes: int | None = None,
    *,
    base_filters: int = 32,
    max_filters: int = 256,
    spectral_norm: bool = True,
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
        leaky_slope: negative slope of the LeakyReLU activations.
        dropout: dropout rate after each block (0 = none).

    Returns:
        A functional ``keras.Model`` with inputs ``image`` [and ``label``] and
        output ``logit`` of shape (N, 1): > 0 means "looks real". Logits are
        unbounded (no sigmoid); the losses in ``training`` expect logits.
    """
    start, n_blocks = _check_image_size(image_size)
    for knob, value in [
        ("channels", channels),
        ("base_filters", base_filters),
        ("max_filters", max_filters),
    ]:
        _check_positive(knob, value)
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
    size = image_size
    for block in range(n_blocks):
        size //= 2
        width = _filters(base_filters, block, max_filters)
        x = maybe_sn(layers.Conv2D(width, 4, strides=2, padding="same", name=f"down_{size}x{size}"))(x)
        x = layers.LeakyReLU(leaky_slope, name=f"lrelu_{size}x{size}")(x)
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
    return keras.Model(inputs if len(inputs) > 1 else image, logit, name=name)


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
