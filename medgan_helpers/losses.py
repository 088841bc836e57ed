"""The adversarial losses and penalties, as plain functions of tensors (notebooks 04, 08 and 09).

- The loss pairs are functions of D's raw scores (logits, no sigmoid), computed
  in float32 whatever the models compute in. :func:`get` chooses a pair by name,
  in one place, for every model family (``gan.GAN``, ``pix2pix.Pix2Pix``):
  ``d_loss, g_loss = losses.get("hinge")``.
- The penalties take the discriminator as an argument, so any ``train_step`` can
  add them: WGAN-GP's :func:`gradient_penalty`, :func:`r1_penalty` (lazy) and the
  generator's :func:`mode_seeking_penalty`.
- The diffusion model's :func:`noise_prediction_loss` (notebook 10).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf
from keras import ops

DLoss = Callable[..., tf.Tensor]  # (real_logits, fake_logits) -> scalar
GLoss = Callable[..., tf.Tensor]  # (fake_logits) -> scalar


def _f32(x):
    return ops.cast(x, "float32")


# --------------------------------------------------------------------------- loss pairs


def d_loss_bce(real_logits, fake_logits):
    """Binary cross-entropy for D: real -> 1, fake -> 0 (softplus form, numerically safe)."""
    return ops.mean(ops.softplus(-_f32(real_logits))) + ops.mean(ops.softplus(_f32(fake_logits)))


def g_loss_bce(fake_logits):
    """Non-saturating G loss: maximise log D(G(z)) instead of minimising log(1 - D(G(z)))."""
    return ops.mean(ops.softplus(-_f32(fake_logits)))


def g_loss_saturating(fake_logits):
    """The original minimax G loss, log(1 - D(G(z))): its gradient vanishes when D wins."""
    return -ops.mean(ops.softplus(_f32(fake_logits)))


def d_loss_hinge(real_logits, fake_logits):
    """Hinge loss for D: only real logits below +1 and fake logits above -1 are pushed."""
    return ops.mean(ops.relu(1.0 - _f32(real_logits))) + ops.mean(ops.relu(1.0 + _f32(fake_logits)))


def g_loss_mean(fake_logits):
    """G loss of hinge and WGAN: raise D's score of the fakes, -mean D(G(z))."""
    return -ops.mean(_f32(fake_logits))


def d_loss_wasserstein(real_logits, fake_logits):
    """WGAN critic loss (add a gradient penalty: ``GAN(..., gp_weight=10)``)."""
    return ops.mean(_f32(fake_logits)) - ops.mean(_f32(real_logits))


#: loss name -> (discriminator loss, generator loss): the one table every model family chooses from
LOSSES: dict[str, tuple[DLoss, GLoss]] = {
    "hinge": (d_loss_hinge, g_loss_mean),
    "bce": (d_loss_bce, g_loss_bce),
    "wgan-gp": (d_loss_wasserstein, g_loss_mean),
}

#: D's loss when it outputs 0 for every image ("chance"): hinge 1 + 1, BCE 2 ln 2.
CHANCE_D_LOSS = {"hinge": 2.0, "bce": 1.3862943611198906}


def get(name: str) -> tuple[DLoss, GLoss]:
    """The ``(d_loss, g_loss)`` pair called ``name`` in :data:`LOSSES` ("hinge", "bce", "wgan-gp")."""
    if name not in LOSSES:
        raise ValueError(f"loss={name!r} is not known: use one of {', '.join(LOSSES)}.")
    return LOSSES[name]


# --------------------------------------------------------------------------- penalties


def gradient_penalty(discriminator: keras.Model, real_images, fake_images, labels, seed):
    """WGAN-GP: (||grad_x D(x)|| - 1)^2 on random mixes of real and fake images (``seed``: a SeedGenerator)."""
    alpha = keras.random.uniform((ops.shape(real_images)[0], 1, 1, 1), seed=seed)
    mixed = real_images + alpha * (fake_images - real_images)
    return ops.mean(ops.square(input_gradient_norm(discriminator, mixed, labels) - 1.0))


def r1_penalty(discriminator: keras.Model, real_images, labels, every: int = 1, step=None):
    """R1 (Mescheder et al. 2018): 1/2 E||grad_x D(x)||^2 on real images.

    Lazy with ``every`` > 1: computed only when ``step`` (D's optimizer
    iterations) is a multiple of ``every``, weighted by ``every``, and 0 otherwise.
    """
    def penalty():
        return 0.5 * every * ops.mean(ops.square(input_gradient_norm(discriminator, real_images, labels)))

    if every == 1:
        return penalty()
    due = ops.equal(step % every, 0)
    return ops.cond(due, penalty, lambda: ops.zeros((), "float32"))


def mode_seeking_penalty(z, fake_images, labels):
    """Mode seeking (Mao et al. 2019), within the batch: no extra pass through G.

    For every pair of fakes of the same class, the ratio of their image
    distance to their latent distance; the penalty is the mean of 1 / ratio.
    When G draws nearly the same image for different latents of a class
    (collapse), the ratios are small and the penalty large.
    """
    x = ops.reshape(_f32(fake_images), (ops.shape(fake_images)[0], -1))
    image_distance = ops.mean(ops.abs(x[:, None, :] - x[None, :, :]), axis=-1)
    latent_distance = ops.mean(ops.abs(z[:, None, :] - z[None, :, :]), axis=-1)
    n = ops.shape(z)[0]
    pairs = 1.0 - ops.eye(n)  # every pair, not an image with itself
    if labels is not None:
        pairs = pairs * ops.cast(ops.equal(labels, ops.transpose(labels)), "float32")
    inverse_ratio = latent_distance / (image_distance + 1e-5 * latent_distance + 1e-8)
    return ops.sum(pairs * inverse_ratio) / ops.maximum(ops.sum(pairs), 1.0)


def input_gradient_norm(discriminator: keras.Model, images, labels):
    """||d D(x) / d x|| for each image of the batch (float32; ``labels`` None when D is unconditional)."""
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = discriminator(images if labels is None else [images, labels], training=True)
        total = ops.sum(_f32(logits))  # d total / d image_i = d logit_i / d image_i
    grads = _f32(tape.gradient(total, images))
    return ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3)) + 1e-12)  # safe at 0


# --------------------------------------------------------------------------- diffusion


def noise_prediction_loss(noise, predicted_noise):
    """Ho et al. (2020)'s simple loss: the mean squared error between the noise added and the noise predicted.

    Used by ``diffusion.Diffusion.train_step``, in float32 whatever the denoiser computes in.
    """
    return ops.mean(ops.square(_f32(noise) - _f32(predicted_noise)))
