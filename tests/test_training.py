"""Tests for medgan_helpers.training: every loss, conditioning, sampling, saving, faults.

Everything trains for real on tiny synthetic images (28/32 px, a few filters),
so each test takes seconds; the ones that train are marked ``slow``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from medgan_helpers import models, training

LATENT = 8
SIZE = 32


def _data(n=64, size=SIZE, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    # blobs whose brightness depends on the class: something learnable
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    labels = rng.integers(0, classes, n)
    radius = 0.2 + 0.08 * labels[:, None, None] + 0.02 * rng.standard_normal((n, 1, 1))
    images = np.where(xx**2 + yy**2 < radius**2, 0.8, -1.0)[..., None]
    return images.astype("float32"), labels


def _gan(num_classes=3, loss="hinge", size=SIZE, run_eagerly=False, **kwargs):
    G = models.build_generator(size, 1, LATENT, num_classes, base_filters=4, max_filters=16)
    D = models.build_discriminator(size, 1, num_classes, base_filters=4, max_filters=16)
    gan = training.GAN(G, D, LATENT, num_classes, loss=loss, **kwargs)
    gan.compile(run_eagerly=run_eagerly)
    return gan


# --------------------------------------------------------------------------- every loss


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["hinge", "bce", "wgan-gp"])
@pytest.mark.parametrize("num_classes", [None, 3])
def test_every_loss_trains_conditional_and_not(loss, num_classes):
    """Eager mode here (tracing six models costs more than the steps); graph mode is
    exercised by the save/load, NaN-guard, train() and resume tests."""
    images, labels = _data()
    gan = _gan(num_classes, loss, run_eagerly=True)
    before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    history = gan.fit(
        training.make_dataset(images, labels if num_classes else None, 16), epochs=1, verbose=0
    )
    logs = {k: v[-1] for k, v in history.history.items()}
    assert set(logs) == {"d_loss", "g_loss", "d_real_acc", "d_fake_acc", "d_grad_norm", "g_grad_norm"}
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert 0.0 <= logs["d_real_acc"] <= 1.0 and logs["d_grad_norm"] > 0 and logs["g_grad_norm"] > 0
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(before, gan.generator.trainable_weights))
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(d_before, gan.discriminator.trainable_weights))
    assert int(gan.g_optimizer.iterations.numpy()) == 4
    # the EMA copy moved, but is not G itself
    ema = gan.ema_generator.trainable_weights
    assert any(not np.allclose(a.numpy(), b.numpy()) for a, b in zip(ema, gan.generator.trainable_weights))


def test_loss_functions_by_hand():
    real = np.array([[2.0], [-0.5]], "float32")
    fake = np.array([[0.5], [-3.0]], "float32")
    # hinge: mean(relu(1 - real)) + mean(relu(1 + fake)) = (0 + 1.5)/2 + (1.5 + 0)/2
    assert float(training.d_loss_hinge(real, fake)) == pytest.approx(1.5)
    assert float(training.g_loss_mean(fake)) == pytest.approx(1.25)
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
    assert float(training.d_loss_bce(real, fake)) == pytest.approx(
        softplus(-real).mean() + softplus(fake).mean(), rel=1e-5
    )
    assert float(training.g_loss_bce(fake)) == pytest.approx(softplus(-fake).mean(), rel=1e-5)
    assert float(training.d_loss_wasserstein(real, fake)) == pytest.approx(fake.mean() - real.mean())


def test_gradient_penalty_is_finite_for_identical_real_and_fake():
    """The safe norm keeps the penalty (and its gradient) finite when real == fake."""
    gan = _gan(None, "wgan-gp")
    images = np.zeros((4, SIZE, SIZE, 1), "float32")
    with tf.GradientTape() as tape:
        penalty = gan.gradient_penalty(tf.constant(images), tf.constant(images), None)
    grads = tape.gradient(penalty, gan.discriminator.trainable_weights)
    assert np.isfinite(float(penalty))
    assert all(g is None or np.isfinite(g.numpy()).all() for g in grads)


def test_d_steps_runs_several_discriminator_updates():
    images, _ = _data(32)
    gan = _gan(None, d_steps=2, run_eagerly=True)
    gan.fit(training.make_dataset(images, None, 16), epochs=1, verbose=0)
    assert int(gan.d_optimizer.iterations.numpy()) == 4
    assert int(gan.g_optimizer.iterations.numpy()) == 2


def test_conditional_gan_without_labels_says_what_to_do():
    images, _ = _data(32)
    gan = _gan(3)
    with pytest.raises(ValueError, match="no labels"):
        gan.fit(training.make_dataset(images, None, 16), epochs=1, verbose=0)


def test_constructor_errors_name_the_problem():
    G = models.build_generator(SIZE, 1, LATENT, base_filters=4)
    D = models.build_discriminator(SIZE, 1, base_filters=4)
    with pytest.raises(ValueError, match="loss"):
        training.GAN(G, D, LATENT, loss="l2")
    with pytest.raises(ValueError, match="latent_dim"):
        training.GAN(G, D, LATENT + 1)
    with pytest.raises(ValueError, match="num_classes"):
        training.GAN(G, D, LATENT, num_classes=3)
    with pytest.raises(ValueError, match="unknown augmentation"):
        training.GAN(G, D, LATENT, augment="hue")


# --------------------------------------------------------------------------- DiffAugment


def test_diff_augment_medical_policy():
    images = np.full((8, SIZE, SIZE, 1), 0.5, "float32")
    out = np.asarray(training.diff_augment(images, "medical", seed=3))
    assert out.shape == images.shape
    assert not np.allclose(out, images)
    # translation pads with black (-1) and brightness/contrast are mild
    assert out.min() >= -1.0 - 0.25 and out.max() <= 0.5 + 0.25
    # same seed, same augmentation; None = identity
    np.testing.assert_array_equal(out, np.asarray(training.diff_augment(images, "medical", seed=3)))
    np.testing.assert_array_equal(np.asarray(training.diff_augment(images, None)), images)


def test_diff_augment_no_flip_by_default_and_differentiable():
    assert "flip" not in training.AUGMENT_POLICIES["medical"]
    images = tf.Variable(np.random.default_rng(0).uniform(-1, 1, (4, SIZE, SIZE, 1)).astype("float32"))
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(training.diff_augment(images, ("translation", "cutout"), seed=1))
    grad = tape.gradient(out, images)
    assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0


def test_cutout_zeroes_a_square():
    images = np.ones((2, SIZE, SIZE, 1), "float32")
    out = np.asarray(training.diff_augment(images, ("cutout",), seed=0, cutout_ratio=0.25))
    zeros = (out == 0).reshape(2, -1).sum(1)
    assert np.all(zeros > 0) and np.all(zeros <= 8 * 8)


# --------------------------------------------------------------------------- sampling


def test_generate_same_seed_same_images_and_labels():
    gan = _gan(3)
    a = gan.generate(6, seed=5)
    b = gan.generate(6, seed=5)
    c = gan.generate(6, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (6, SIZE, SIZE, 1) and a.dtype == np.float32
    assert a.min() >= -1 and a.max() <= 1
    # batch size does not change the images
    np.testing.assert_allclose(gan.generate(6, seed=5, batch_size=4), a, atol=1e-6)
    # class by name and by id agree
    gan_named = _gan(3, class_names=["a", "b", "c"])
    np.testing.assert_array_equal(gan_named.generate(2, labels="b"), gan_named.generate(2, labels=1))


def test_sample_latent_truncation_and_errors():
    gan = _gan(None)
    z = gan.sample_latent(500, seed=0, truncation=0.5)
    assert z.shape == (500, LATENT) and z.dtype == np.float32
    assert np.abs(z).max() <= 0.5
    plain = gan.sample_latent(500, seed=0)
    assert np.abs(plain).max() > 2
    with pytest.raises(ValueError, match="truncation"):
        gan.sample_latent(2, truncation=0)
    with pytest.raises(ValueError, match="unconditional"):
        gan.generate(2, labels=[0, 1])
    with pytest.raises(ValueError, match="expected"):
        gan.generate_from_latent(np.zeros((2, LATENT + 1)))
    conditional = _gan(3)
    with pytest.raises(ValueError, match="class ids"):
        conditional.generate(2, labels=[0, 7])
    with pytest.raises(ValueError, match="one label per image"):
        conditional.generate(3, labels=[0, 1])


def test_sampler_protocol_attributes():
    gan = _gan(3)
    assert gan.latent_dim == LATENT and gan.num_classes == 3
    assert gan.image_size == SIZE and gan.channels == 1
    assert gan.class_names == ["class 0", "class 1", "class 2"]
    assert _gan(None).class_names is None


# --------------------------------------------------------------------------- saving


@pytest.mark.slow
def test_save_load_round_trip_same_images_and_training_continues(tmp_path):
    images, labels = _data()
    gan = _gan(3, class_names=["small", "medium", "large"])
    ds = training.make_dataset(images, labels, 16)
    history = gan.fit(ds, epochs=1, verbose=0)
    run = training.save_run(gan, tmp_path / "run", history=history, config={"dataset": "blobs"})
    for name in ("config.json", "history.json", "generator.keras", "generator_ema.keras", "discriminator.keras"):
        assert (run / name).is_file(), name
    assert json.loads((run / "history.json").read_text())["d_loss"]

    loaded = training.load_run(run)
    np.testing.assert_array_equal(loaded.generate(5, seed=2), gan.generate(5, seed=2))
    assert loaded.class_names == ["small", "medium", "large"] and loaded.loss_name == "hinge"
    assert int(loaded.g_optimizer.iterations.numpy()) == 4  # optimizer state came back
    for a, b in zip(loaded.d_optimizer.variables, gan.d_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    loaded.fit(ds, epochs=1, verbose=0)
    assert int(loaded.g_optimizer.iterations.numpy()) == 8
    assert not np.allclose(loaded.generate(5, seed=2), gan.generate(5, seed=2))

    sampler = training.load_generator(run)
    assert isinstance(sampler, training.GeneratorModel)
    np.testing.assert_array_equal(sampler.generate(5, seed=2), gan.generate(5, seed=2))
    assert sampler.class_names == ["small", "medium", "large"] and sampler.image_size == SIZE


def test_load_errors_say_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        training.load_run(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="generator.keras"):
        training.load_run(tmp_path / "half")


@pytest.mark.slow
def test_train_convenience_writes_a_complete_run_and_latest_run_finds_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGAN_ARTIFACTS", str(tmp_path))
    images, _ = _data(64, size=28)
    assert training.latest_run() is None
    gan = training.train(
        images, epochs=2, batch_size=16, g_base_filters=4, d_base_filters=4, max_filters=8,
        latent_dim=LATENT, verbose=0, display=False,
    )
    run = gan.run_dir
    assert run.parent == tmp_path / "runs" and run.name.startswith("array-28px-")
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    history = json.loads((run / "history.json").read_text())
    assert len(history["d_loss"]) == 2
    health = json.loads((run / "health.json").read_text())
    assert [r["epoch"] for r in health] == [1, 2] and "diversity" in health[0]
    settings = json.loads((run / "config.json").read_text())
    assert settings["status"] == "finished" and settings["gan"]["num_classes"] is None
    assert not (run / "backup").exists()  # BackupAndRestore cleans up after a finished run
    assert training.latest_run() == run
    assert training.latest_run(tmp_path) == run == training.latest_run(tmp_path / "runs")
    assert training.latest_run(dataset="brain-mri") is None
    sampler, how = training.load_latest_or_pretrained("array", 28)
    assert "newest run" in how
    np.testing.assert_array_equal(sampler.generate(3, seed=1), gan.generate(3, seed=1))
    with pytest.raises(ValueError, match="unknown training knob"):
        training.train(images, epoch=3)


def test_default_config_quick_is_smaller():
    full, quick = training.default_config(quick=False), training.default_config(quick=True)
    assert set(full) == set(quick)
    assert quick["epochs"] < full["epochs"] and quick["g_base_filters"] < full["g_base_filters"]


# --------------------------------------------------------------------------- faults


@pytest.mark.slow
def test_nan_guard_stops_and_rolls_back_on_a_corrupt_batch():
    images, labels = _data(64)
    images[40] = np.nan  # one corrupt image in the third batch of 16 (no shuffling below)
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype("int32"))).batch(16)
    gan = _gan(3)
    gan.fit(ds.take(2), epochs=1, verbose=0)  # epoch of good batches
    good = [w.numpy().copy() for w in gan.weights]
    guard = training.NaNGuard(verbose=False)
    history = gan.fit(ds, epochs=3, verbose=0, callbacks=[guard])
    assert guard.triggered
    assert "d_loss became nan" in guard.message and "batch 3" in guard.message
    assert "rolled back to the start of training" in guard.message
    assert len(history.history["d_loss"]) == 1  # stopped in the first epoch
    for before, weight in zip(good, gan.weights):
        np.testing.assert_array_equal(before, weight.numpy())
    assert all(np.isfinite(v.numpy()).all() for v in gan.d_optimizer.variables)
    assert np.isfinite(gan.generate(4)).all()


def test_health_alarm_fires_for_a_collapsed_generator():
    images, _ = _data(64)
    gan = _gan(None)
    last = gan.ema_generator.get_layer("to_image")
    last.kernel.assign(np.zeros(last.kernel.shape, "float32"))  # every z -> the same image
    health = training.TrainingHealth(real_images=images, warmup_epochs=0, verbose=False)
    health.set_model(gan)
    health.on_epoch_end(0, {"d_real_acc": 0.99, "d_fake_acc": 0.99, "d_grad_norm": 1.0, "g_grad_norm": 1.0})
    record = health.records[-1]
    assert record["diversity"] == pytest.approx(0.0, abs=1e-6)
    assert any("mode collapse" in a for a in record["alarms"])
    assert any("D wins" in a for a in record["alarms"])
    assert training.sample_diversity(images) > 0.1


def test_sample_grid_writes_pngs(tmp_path):
    gan = _gan(3)
    grid = training.SampleGrid(tmp_path, n=6, display=False)
    grid.set_model(gan)
    grid.on_epoch_end(0)
    grid.on_epoch_end(1)
    assert (tmp_path / "samples" / "epoch_002.png").is_file()
    np.testing.assert_array_equal(grid.grids[1], grid.grids[2])  # fixed latents, untrained G
    assert grid.grids[1].shape == (2 * (SIZE + 2) + 2, 3 * (SIZE + 2) + 2)


# --------------------------------------------------------------------------- determinism


def _train_once(seed):
    from medgan_helpers import config

    config.seed_everything(seed)
    images, labels = _data(64, size=28)
    G = models.build_generator(28, 1, LATENT, 3, base_filters=4, max_filters=8)
    D = models.build_discriminator(28, 1, 3, base_filters=4, max_filters=8)
    gan = training.GAN(G, D, LATENT, 3, seed=seed)
    gan.compile()
    gan.fit(training.make_dataset(images, labels, 16, seed=seed), epochs=1, verbose=0)
    return gan.generate(8, seed=3)


@pytest.mark.slow
def test_same_seed_same_training_same_samples():
    """Same seed -> bit-identical samples after training (CPU); another seed differs."""
    first, second, other = _train_once(7), _train_once(7), _train_once(8)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


# --------------------------------------------------------------------------- kill and resume


RESUME_SCRIPT = textwrap.dedent(
    """
    import time
    import keras
    import numpy as np
    from medgan_helpers import training

    class Slow(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.7)  # give the test time to kill us between epochs

    rng = np.random.default_rng(0)
    images = np.tanh(rng.standard_normal((32, 28, 28, 1))).astype("float32")
    training.train(
        images, epochs=6, batch_size=16, g_base_filters=4, d_base_filters=4, max_filters=8,
        latent_dim=8, verbose=2, display=False, callbacks=[Slow()],
    )
    print("FINISHED")
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_killed_run_resumes_losing_at_most_one_epoch(tmp_path):
    script = tmp_path / "resume.py"
    script.write_text(RESUME_SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MEDGAN_ARTIFACTS": str(tmp_path / "artifacts")}
    runs = tmp_path / "artifacts" / "runs"

    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 100
    while time.time() < deadline and not list(runs.glob("*/samples/epoch_002.png")):
        assert proc.poll() is None, proc.stdout.read()[-2000:]
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)  # like a Colab disconnect: no cleanup at all
    proc.wait()
    (run,) = list(runs.iterdir())
    done_before_kill = len((run / "history.csv").read_text().strip().splitlines()) - 1
    assert 2 <= done_before_kill < 6
    assert (run / "backup").is_dir()
    assert json.loads((run / "config.json").read_text())["status"] == "running"

    second = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=100)
    assert second.returncode == 0 and "FINISHED" in second.stdout, second.stdout[-2000:] + second.stderr[-2000:]
    assert list(runs.iterdir()) == [run]  # the same run continued, not a new one
    epochs_run = [int(line.split()[1].split("/")[0]) for line in second.stdout.splitlines() if line.startswith("Epoch ")]
    assert epochs_run[0] >= done_before_kill  # lost at most the epoch in progress
    assert epochs_run[-1] == 6
    history = json.loads((run / "history.json").read_text())
    assert len(history["d_loss"]) == 6
    assert json.loads((run / "config.json").read_text())["status"] == "finished"
    assert (run / "samples" / "epoch_006.png").is_file()


# --------------------------------------------------------------------------- notebook 04 exercises


def test_nb04_exercise_checks_accept_right_and_reject_wrong_answers(capsys):
    from keras import ops

    from medgan_helpers.exercises import nb04

    assert nb04.check_hinge_loss(1.5) and not nb04.check_hinge_loss(0.75)
    assert not nb04.check_hinge_loss("one and a half")
    assert nb04.check_generator_loss(lambda x: ops.mean(ops.softplus(-x)))
    assert not nb04.check_generator_loss(lambda x: ops.mean(-ops.softplus(x)))  # saturating form
    assert "saturating" in capsys.readouterr().out
    assert not nb04.check_generator_loss(lambda x: 1 / 0)
    ema = 0.0
    for _ in range(10):
        ema = 0.9 * ema + 0.1
    assert nb04.check_ema_after_steps(ema) and not nb04.check_ema_after_steps(0.9)
    assert nb04.check_discriminator_updates(150) and not nb04.check_discriminator_updates(75)


# --------------------------------------------------------------------------- the shipped model


def test_shipped_pretrained_generator_loads_as_a_sampler(tmp_path, monkeypatch):
    from medgan_helpers import config

    folder = config.pretrained_dir() / "brain-mri-64"
    if not (folder / "config.json").is_file():
        pytest.skip("no pretrained model in this checkout (python -m medgan_helpers.pretrain)")
    monkeypatch.setenv("MEDGAN_ARTIFACTS", str(tmp_path))  # no runs: the pretrained one is chosen
    sampler, how = training.load_latest_or_pretrained("brain-mri", 64)
    assert "pretrained" in how and isinstance(sampler, training.GeneratorModel)
    assert sampler.num_classes == 4 and len(sampler.class_names) == 4
    assert (sampler.image_size, sampler.channels) == (64, 1)
    images = sampler.generate(8, seed=0)
    assert images.shape == (8, 64, 64, 1) and images.min() >= -1 and images.max() <= 1
    np.testing.assert_array_equal(images, sampler.generate(8, seed=0))
    assert (folder / "MODEL_CARD.md").read_text().count("## Evaluation") == 1
    assert (folder / "generator_ema.keras").stat().st_size < 10e6
