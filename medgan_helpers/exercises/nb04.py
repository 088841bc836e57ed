"""Checks for the exercises of notebook 04 (training with ``train_step``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from medgan_helpers.exercises._verdict import close_to, verdict


def check_hinge_loss(value: float) -> bool:
    """D's hinge loss for real logits [2.0, -0.5] and fake logits [0.5, -3.0]."""
    real, fake = np.array([2.0, -0.5]), np.array([0.5, -3.0])
    expected = np.maximum(0, 1 - real).mean() + np.maximum(0, 1 + fake).mean()
    return verdict(
        close_to(value, expected),
        f"{expected:.2f}: only the real logit below +1 (-0.5 -> 1.5) and the fake logit above -1 "
        "(0.5 -> 1.5) cost anything; confident, correct scores cost 0.",
        "average relu(1 - real) over the real logits, average relu(1 + fake) over the fake ones, "
        "then add the two averages.",
    )


def check_generator_loss(g_loss: Callable) -> bool:
    """Your non-saturating BCE generator loss ``g_loss(fake_logits)`` against the kit's."""
    from medgan_helpers import losses

    logits = np.random.default_rng(0).normal(0, 3, (64, 1)).astype("float32")
    try:
        mine = float(np.asarray(g_loss(logits)))
    except Exception as error:  # a student's function may fail in any way
        return verdict(False, "", f"your function raised {type(error).__name__}: {error}")
    expected = float(losses.g_loss_bce(logits))
    # the original minimax form: minimise log(1 - sigmoid(x)) = -softplus(x) (or its sign flip)
    saturating = float(np.mean(-np.log1p(np.exp(logits))))
    if math.isclose(mine, saturating, rel_tol=1e-3) or math.isclose(mine, -saturating, rel_tol=1e-3):
        return verdict(False, "", "that is the saturating form log(1 - D(G(z))); G should instead "
                       "maximise log D(G(z)), i.e. minimise softplus(-logits).")
    return verdict(
        math.isclose(mine, expected, rel_tol=1e-3, abs_tol=1e-5),
        "the non-saturating loss mean(softplus(-fake_logits)) = -mean(log sigmoid(fake_logits)).",
        "G wants D to say 'real' (label 1) for its fakes: binary cross-entropy with target 1 on "
        "logits is softplus(-logits); average it (keras.ops.softplus / np.log1p(np.exp(-x))).",
    )


def check_ema_after_steps(value: float) -> bool:
    """EMA with decay 0.9, starting at 0, after 10 steps of a weight that stays at 1.0."""
    expected = 1 - 0.9**10
    return verdict(
        close_to(value, expected),
        f"{expected:.4f} = 1 - 0.9**10: the average closes 10% of the remaining gap per step, "
        "so it lags the weights it follows — that lag is what smooths G's jitter.",
        "apply ema = 0.9 * ema + 0.1 * 1.0 ten times, starting from ema = 0 (or find the closed form).",
    )


def check_discriminator_updates(n: int) -> bool:
    """D's optimizer steps after one epoch of 75 batches with ``d_steps=2``."""
    return verdict(
        n == 150,
        "150: d_steps=2 means two discriminator updates (each with fresh fakes) per batch, "
        "and still one generator update (75).",
        "count the loop in train_step: how many times does d_optimizer.apply_gradients run per batch?",
    )


# ------------------------------------------------------------------ exercises that change training
def _gan_of(result):
    """The GAN inside a ``training.train`` result (or the GAN itself)."""
    return getattr(result, "gan", result)


def _evenly_spaced(imageset, n: int) -> np.ndarray:
    return np.linspace(0, len(imageset) - 1, min(n, len(imageset))).astype(int)


def real_gradient_norm(result, imageset, n: int = 128) -> float:
    """Mean ||grad_x D(x)|| over ``n`` evenly spaced real images: what the R1 penalty pushes down.

    Computed by the kit's own ``losses.input_gradient_norm`` (the function behind
    ``r1_penalty`` and ``gradient_penalty``), with the images' labels for a conditional D.
    """
    import tensorflow as tf

    from medgan_helpers import losses

    model = _gan_of(result)
    index = _evenly_spaced(imageset, n)
    images = tf.constant(imageset.batch_images(index))
    labels = None
    if model.num_classes:
        labels = tf.constant(np.asarray(imageset.labels)[index].reshape(-1, 1).astype("int32"))
    return float(np.mean(losses.input_gradient_norm(model.discriminator, images, labels)))


def _has_spectral_norm(model) -> bool:
    import keras

    return any(isinstance(layer, keras.layers.SpectralNormalization) for layer in model.discriminator.layers)


def check_r1_effect(with_r1, without_r1, imageset) -> bool:
    """Exercise 3: R1 on a D without spectral norm lowers D's gradient at the real images.

    ``with_r1`` and ``without_r1`` are ``training.train`` results with the same
    settings except ``r1_weight`` (> 0 and 0), both with ``spectral_norm=False``.
    Passes when R1 has lowered D's mean gradient norm at the real images by at
    least 30 % (to at most 0.7 times the norm without R1).
    """
    try:
        a, b = _gan_of(with_r1), _gan_of(without_r1)
        steps = int(a.g_optimizer.iterations.numpy()), int(b.g_optimizer.iterations.numpy())
    except AttributeError:
        return verdict(False, "", "pass the two results of mg.train(...) (or their .gan): first the "
                       "run with r1_weight > 0, then the run without.")
    if a.r1_weight <= 0 or b.r1_weight != 0:
        return verdict(False, "", f"the first run has r1_weight={a.r1_weight:g}, the second {b.r1_weight:g}: "
                       "train the first with r1_weight > 0 (10 is usual) and the second with 0.")
    if _has_spectral_norm(a) or _has_spectral_norm(b):
        return verdict(False, "", "train both with spectral_norm=False: spectral normalisation already "
                       "limits D's slope, so you would not see what R1 does on its own.")
    if steps[0] != steps[1] or steps[0] == 0:
        return verdict(False, "", f"the runs made {steps[0]} and {steps[1]} generator steps: train both "
                       "with the same settings (only r1_weight differs).")
    norm_r1, norm_plain = real_gradient_norm(a, imageset), real_gradient_norm(b, imageset)
    measured = (f"mean |grad_x D(x)| at real images: {norm_r1:.3g} with R1 (weight {a.r1_weight:g}), "
                f"{norm_plain:.3g} without, after {steps[0]} steps")
    return verdict(
        norm_r1 <= 0.7 * norm_plain,
        f"{measured}. R1 keeps D flat around the real images, so D cannot win by making its score "
        "arbitrarily steep there — the job spectral normalisation does in the kit's recipe.",
        f"{measured}: not yet 30 % lower. Train longer, or with a larger r1_weight.",
    )


def lsgan_reference(real_logits, fake_logits) -> tuple[float, float]:
    """LSGAN (Mao et al. 2017, targets 1 for real, 0 for fake): (D loss, G loss), for comparison."""
    real = np.asarray(real_logits, np.float64)
    fake = np.asarray(fake_logits, np.float64)
    return (0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake**2), 0.5 * np.mean((fake - 1) ** 2))


def d_scores(result, imageset, n: int = 128, seed: int = 5) -> tuple[float, float]:
    """D's mean raw score on ``n`` real images and on ``n`` generated images of the same classes."""
    model = _gan_of(result)
    index = _evenly_spaced(imageset, n)
    images = imageset.batch_images(index)
    labels = np.asarray(imageset.labels)[index] if model.num_classes else None
    fakes = model.generate_from_latent(model.sample_latent(len(index), seed=seed), labels)
    inputs = (lambda x: x) if labels is None else (lambda x: [x, labels.reshape(-1, 1)])
    return (float(np.mean(model.discriminator(inputs(images), training=False))),
            float(np.mean(model.discriminator(inputs(fakes), training=False))))


def check_lsgan(d_loss_fn: Callable, g_loss_fn: Callable, result=None, imageset=None) -> bool:
    """Exercise 4: the LSGAN losses; with a trained ``result``, that D learned LSGAN's targets.

    The losses are compared with the least-squares formulas on fixed logits. A
    run trained with them (``GAN.compile(d_loss_fn=..., g_loss_fn=...)``) must
    have used them, and its D must score real images above generated ones with
    both means inside the band the targets (1 and 0) pull them into.
    """
    rng = np.random.default_rng(4)
    real, fake = rng.normal(0.8, 1.5, (64, 1)).astype("float32"), rng.normal(-0.3, 1.5, (64, 1)).astype("float32")
    want_d, want_g = lsgan_reference(real, fake)
    try:
        got_d, got_g = float(np.asarray(d_loss_fn(real, fake))), float(np.asarray(g_loss_fn(fake)))
    except Exception as error:  # a student's function may fail in any way
        return verdict(False, "", f"your loss raised {type(error).__name__}: {error}")
    if not math.isclose(got_d, want_d, rel_tol=1e-3):
        if math.isclose(got_d, 2 * want_d, rel_tol=1e-3):
            return verdict(False, "", "the D loss is twice the LSGAN one: each squared term carries a factor 1/2.")
        return verdict(False, "", f"D loss {got_d:.4f} on the test logits: D wants real scores at 1 and fake "
                       "scores at 0, and pays the squared distance to the target.")
    if not math.isclose(got_g, want_g, rel_tol=1e-3):
        return verdict(False, "", f"G loss {got_g:.4f} on the test logits: G wants D to score its fakes at the "
                       "real target, 1.")
    if result is None:
        return verdict(True, "both losses match the least-squares formulas. Now train with them.", "")
    model = _gan_of(result)
    if model.d_loss_fn is not d_loss_fn or model.g_loss_fn is not g_loss_fn:
        return verdict(False, "", "the model was not compiled with your two functions: "
                       "compile(d_loss_fn=lsgan_d_loss, g_loss_fn=lsgan_g_loss, ...).")
    if int(model.g_optimizer.iterations.numpy()) == 0:
        return verdict(False, "", "the model has not been trained yet: call fit.")
    on_real, on_fake = d_scores(model, imageset)
    ok = on_real > on_fake and -0.5 < on_fake < on_real < 1.5
    return verdict(
        ok,
        f"D's mean score: {on_real:.2f} on real images, {on_fake:.2f} on generated ones — pulled towards "
        "the targets 1 and 0 and no further: a least-squares D gets no reward for scores beyond its targets.",
        f"D's mean score is {on_real:.2f} on real and {on_fake:.2f} on generated images; with the LSGAN "
        "losses both should lie between the targets (0 and 1), real above generated. Train a little longer.",
    )


def fidelity_of(result, imageset, extractor, n: int = 400, seed: int = 1) -> dict[str, float]:
    """FD and coverage of ``n`` generated images (balanced classes) against ``imageset``, in the kit's features."""
    from medgan_helpers import evaluation

    model = _gan_of(result)
    labels = evaluation.balanced_labels(n, model.num_classes) if model.num_classes else None
    fake_features = extractor(model.generate(n, labels=labels, seed=seed))
    scores = evaluation.fidelity(extractor(imageset.images), fake_features, k=5, kid_subsets=2)
    return {"fd": scores["fd"], "coverage": scores["coverage"]}


def _component_off(full, ablated) -> str | None:
    """Which recipe component the ablated run switched off ("DiffAugment" or "EMA"), or None."""
    diff = []
    if full.augment_policy and not ablated.augment_policy:
        diff.append("DiffAugment")
    if full.ema_generator is not None and ablated.ema_generator is None:
        diff.append("EMA")
    return diff[0] if len(diff) == 1 else None


def ablation_numbers(full, full_other_seed, ablated, imageset, extractor) -> dict[str, float]:
    """FD and coverage of three runs, the ablation's effect and the seed-to-seed spread, in the kit's features."""
    runs = {name: fidelity_of(result, imageset, extractor)
            for name, result in (("full", full), ("other_seed", full_other_seed), ("ablated", ablated))}
    return {
        **{f"{name}_{key}": value for name, scores in runs.items() for key, value in scores.items()},
        "effect_fd": runs["ablated"]["fd"] - runs["full"]["fd"],
        "effect_coverage": runs["ablated"]["coverage"] - runs["full"]["coverage"],
        "spread_fd": abs(runs["other_seed"]["fd"] - runs["full"]["fd"]),
        "spread_coverage": abs(runs["other_seed"]["coverage"] - runs["full"]["coverage"]),
    }


def check_ablation(effect_fd: float, spread_fd: float, reading: str, full, full_other_seed, ablated,
                   imageset, extractor) -> bool:
    """Exercise 5: an ablation of the augmentation or the EMA, read against the seed-to-seed spread.

    ``full`` and ``full_other_seed`` are the recipe trained with two seeds,
    ``ablated`` the recipe with one component off and ``full``'s seed. The
    student measures the ablation's effect on FD (ablated minus full), the
    spread between the two seeds (|other seed minus full|), and reads them:
    ``"beyond noise"`` when the effect on FD *and* on coverage is larger than the
    seeds' spread, else ``"within noise"``. A wrong answer gets the way to
    compute it, never the measured numbers: those come with the right answer.
    """
    try:
        a, a2, b = _gan_of(full), _gan_of(full_other_seed), _gan_of(ablated)
        steps = {int(m.g_optimizer.iterations.numpy()) for m in (a, a2, b)}
    except AttributeError:
        return verdict(False, "", "pass three results of mg.train(...): the recipe, the recipe with "
                       "another seed, and the recipe with one component off (the first seed).")
    off = _component_off(a, b)
    if off is None:
        return verdict(False, "", "switch off exactly one component in the third run: augment=None "
                       "(the augmentation) or ema_decay=None (EMA), and keep everything else as in the first.")
    if a2.seed == a.seed or b.seed != a.seed or _component_off(a, a2) is not None:
        return verdict(False, "", "the second run is the full recipe with another seed; the third uses the "
                       "first run's seed.")
    if len(steps) != 1 or 0 in steps:
        return verdict(False, "", f"the runs made {sorted(steps)} steps: train all three equally long.")
    n = ablation_numbers(a, a2, b, imageset, extractor)
    how = "each FD from exercises.nb04.fidelity_of(result, EX_IMAGES, extractor)"
    if not close_to(effect_fd, n["effect_fd"], abs_tol=1e-3):
        return verdict(False, "", f"effect_fd is FD(without {off}) minus FD(recipe, first seed), {how}.")
    if not close_to(spread_fd, n["spread_fd"], abs_tol=1e-3):
        return verdict(False, "", f"spread_fd is the size of the difference between the two seeds of the "
                       f"recipe: abs(FD(other seed) - FD(first seed)), {how}.")
    if reading not in ("beyond noise", "within noise"):
        return verdict(False, "", 'read the effect: answer "beyond noise" or "within noise".')
    beyond = (abs(n["effect_fd"]) > n["spread_fd"] and abs(n["effect_coverage"]) > n["spread_coverage"])
    truth = "beyond noise" if beyond else "within noise"
    return verdict(
        reading == truth,
        f"FD {n['full_fd']:.2f} / {n['other_seed_fd']:.2f} for the recipe with two seeds, "
        f"{n['ablated_fd']:.2f} without {off}; coverage {n['full_coverage']:.3f} / "
        f"{n['other_seed_coverage']:.3f} and {n['ablated_coverage']:.3f}. Switching {off} off changed FD by "
        f"{n['effect_fd']:+.2f} and coverage by {n['effect_coverage']:+.3f}; two seeds of the same recipe "
        f"differ by {n['spread_fd']:.2f} and {n['spread_coverage']:.3f}: {truth}. One pair of runs proves "
        "nothing until it beats the spread of the runs you did not change.",
        "your two FD numbers are right; now do the same for coverage (the 'coverage' of each fidelity_of "
        "result) and compare: an effect is beyond noise only when it is larger than the seeds' spread "
        "in FD and in coverage.",
    )
