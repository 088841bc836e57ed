"""Mask-to-image synthesis: the one-hot input, new masks by deformation, a short fit, aligned pairs,
and ``benchmarks/seg_synthetic.py`` end to end in tiny settings."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from medgan_helpers import data, deform, mask_synthesis, pix2pix, recipe, seg_experiment
from tests import helpers

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"train": 4, "val": 1, "test": 2}  # planes per class and split: 16 / 4 / 8 images


def blob_masks(n: int = 3, size: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 label maps 0-2 of smooth random blobs (label 3 never used)."""
    from scipy import ndimage

    noise = np.random.default_rng(seed).normal(size=(n, size, size, 3))
    smooth = np.stack([ndimage.gaussian_filter(noise[..., c], (0, 3, 3)) for c in range(3)], -1)
    return np.argmax(smooth, axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def seg(tmp_path_factory):
    """brain-mri-seg at 32 px with 4 training planes per level, built for real into a private cache."""
    with helpers.small_brain_mri(tmp_path_factory.mktemp("mask-synthesis-cache"), SMALL):
        yield {split: data.load_dataset("brain-mri-seg", 32, split) for split in ("train", "test")}


@pytest.fixture(scope="module")
def trained(seg):
    """pix2pix from label maps to slices, a few quick epochs (G's own L1 per epoch in its history)."""
    return mask_synthesis.train(seg["train"], epochs=6, batch_size=8, g_base_filters=8, d_base_filters=8,
                                max_filters=32, g_lr=1e-3, seed=0)


@pytest.fixture(scope="module")
def untrained():
    """pix2pix's G and D built for 4 one-hot channels in, 32 px slices out, not trained."""
    cfg = recipe.pix2pix_config(g_base_filters=4, d_base_filters=4, max_filters=16)
    return pix2pix.Pix2Pix.from_config(cfg.replace(image_size=32, input_size=32, in_channels=4, channels=1))


# --------------------------------------------------------------------------- the input


def test_one_hot_has_one_channel_per_label():
    masks = blob_masks()
    x = mask_synthesis.one_hot(masks, 4)
    assert x.shape == (*masks.shape, 4) and x.dtype == np.float32
    assert set(np.unique(x)) == {-1.0, 1.0} and np.all((x == 1).sum(-1) == 1)
    assert np.array_equal(np.argmax(x, -1), masks) and np.all(x[..., 3] == -1)  # label 3 absent: all off
    assert np.array_equal(mask_synthesis.one_hot(masks[..., None], 4), x)  # a trailing channel is dropped


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 8, 8), np.float32), "integer labels"),
    (np.full((2, 8, 8), 4, np.uint8), "label 4 but num_classes=4"),
    (np.full((2, 8, 8), -1, np.int32), "negative label"),
    (np.zeros((8, 8), np.uint8), "N×S×S"),
])
def test_bad_masks_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        mask_synthesis.one_hot(bad, 4)


def test_synthesis_pairs_turn_a_segmentation_set_around(seg):
    train = seg["train"]
    pairs = mask_synthesis.synthesis_pairs(train)
    assert pairs.inputs.channels == 4 and pairs.targets.channels == 1 and len(pairs) == len(train)
    assert np.array_equal(np.argmax(pairs.input_images, -1), train.masks)
    assert np.array_equal(pairs.targets.pixels, train.inputs.pixels) and not pairs.mask_labels
    x, y = next(iter(pairs.to_tf_dataset(batch_size=4, shuffle=False)))  # what pix2pix trains on
    assert np.array_equal(x.numpy(), mask_synthesis.one_hot(train.masks[:4], 4))
    assert np.allclose(y.numpy(), train.input_images[:4])
    with pytest.raises(ValueError, match="not a segmentation set"):
        mask_synthesis.synthesis_pairs(data.pairs.load_brain_pairs(32, "train"))


# --------------------------------------------------------------------------- new masks


def test_new_masks_stay_integer_with_the_same_labels_and_differ_from_their_source():
    masks = blob_masks(4)
    new, source = mask_synthesis.new_masks(masks, copies=2, seed=3)
    assert new.shape == (8, *masks.shape[1:]) and new.dtype == masks.dtype
    assert np.array_equal(source, [0, 1, 2, 3, 0, 1, 2, 3])
    for m, j in zip(new, source):
        assert set(np.unique(m)) <= set(np.unique(masks[j]))  # labels only, never a blend
        assert set(np.unique(m)) >= {1, 2}  # the tissues survive the deformation
        assert 0.02 < np.mean(m != masks[j]) < 0.6  # a variant, not a copy, not noise
    assert not np.array_equal(new[0], new[4])  # two copies of one mask differ
    again, _ = mask_synthesis.new_masks(masks, copies=2, seed=3)
    other, _ = mask_synthesis.new_masks(masks, copies=2, seed=4)
    assert np.array_equal(new, again) and not np.array_equal(new, other)


def test_new_masks_are_the_masks_of_deform_pairs_with_the_same_seed():
    """The benchmark's control moves real images by exactly the synthetic masks' deformations."""
    masks = blob_masks(3)
    images = np.random.default_rng(1).uniform(-1, 1, (*masks.shape, 1)).astype(np.float32)
    new, _ = mask_synthesis.new_masks(masks, copies=2, seed=7)
    _, moved, _ = deform.deform_pairs(images, masks, copies=2, seed=7)
    assert np.array_equal(new, moved)
    with pytest.raises(ValueError, match="copies=0"):
        mask_synthesis.new_masks(masks, copies=0)


# --------------------------------------------------------------------------- training and pairs


@pytest.mark.slow
def test_a_few_steps_lower_the_l1_loss(trained):
    assert isinstance(trained.model, pix2pix.Pix2Pix) and trained.steps == 12
    assert trained.model.generator.inputs[0].shape[-1] == 4  # one input channel per label
    l1 = trained.history["l1"]
    assert l1[-1] < 0.8 * l1[0], l1


def test_synthetic_pairs_align_with_their_masks(untrained):
    masks, _ = mask_synthesis.new_masks(blob_masks(5), seed=0)
    images, out_masks = mask_synthesis.synthetic_pairs(untrained, masks, batch_size=2)
    assert images.shape == (5, 32, 32, 1) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1 and np.array_equal(out_masks, masks)
    one = untrained.translate(mask_synthesis.one_hot(masks[3:4], 4))[0]  # pair 3 is mask 3's picture
    assert np.allclose(images[3], one, atol=1e-5) and not np.allclose(images[2], one, atol=1e-3)
    plain, _ = mask_synthesis.synthetic_pairs(untrained.generator, masks)  # a bare Keras U-Net
    assert plain.shape == images.shape and plain.dtype == np.float32


@pytest.mark.slow
def test_the_trained_generator_paints_the_anatomy_of_new_masks(trained, seg):
    masks, _ = mask_synthesis.new_masks(seg["train"].masks[:5], seed=0)
    images, _ = mask_synthesis.synthetic_pairs(trained, masks)
    same, _ = mask_synthesis.synthetic_pairs(trained.model, masks)  # the Trained result or its model
    assert np.array_equal(same, images)
    # T1 contrast from the labels alone: background dark, CSF darker than white matter
    x = images[..., 0]
    assert x[masks == 0].mean() < x[masks == 1].mean() < x[masks == 3].mean()


def test_synthetic_pairs_refuse_what_the_generator_cannot_paint(untrained):
    with pytest.raises(ValueError, match="num_classes=4"):
        mask_synthesis.synthetic_pairs(untrained, np.full((1, 32, 32), 5, np.uint8))
    with pytest.raises(ValueError, match="32 px images but the masks are 16 px"):
        mask_synthesis.synthetic_pairs(untrained, np.zeros((1, 16, 16), np.uint8))
    with pytest.raises(ValueError, match="no masks given"):
        mask_synthesis.synthetic_pairs(untrained, np.zeros((0, 32, 32), np.uint8))
    with pytest.raises(TypeError, match="pix2pix.Pix2Pix"):
        mask_synthesis.synthetic_pairs("a generator", np.zeros((1, 32, 32), np.uint8))


# --------------------------------------------------------------------------- the benchmark


def benchmark():
    spec = importlib.util.spec_from_file_location("seg_synthetic", ROOT / "benchmarks" / "seg_synthetic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_benchmark_runs_every_arm_in_tiny_settings(seg, tmp_path, capsys):
    bench = benchmark()
    out = tmp_path / "seg_synthetic.json"
    assert bench.main(["--size", "32", "--seeds", "0", "--fractions", "0.5", "--copies", "1", "--gen-epochs", "1",
                       "--gen-filters", "4", "--seg-steps", "2", "--seg-filters", "4", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    row = saved["per_seed"][0]["0.5"]
    assert saved["held_out_level"] == data.brain.CLASS_NAMES[0] and saved["n_seen_train"] == 12
    assert row["n_real"] == 6 and set(row["arms"]) == set(seg_experiment.ARMS)
    assert [row["arms"][a]["n_train"] for a in seg_experiment.ARMS] == [6, 6, 12, 12]
    for arm in seg_experiment.ARMS:
        for part in seg_experiment.PARTS:
            mean = saved["summary"]["0.5"][arm][part]["mean"]["mean"]
            assert mean is None or 0 <= mean <= 1
    assert str(tmp_path) not in out.read_text()  # no absolute paths kept
    capsys.readouterr()
    assert bench.main(["--show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert all(arm in shown for arm in seg_experiment.ARMS) and "held-out level" in shown and "50% (6)" in shown
    assert "high-frequency ratio" in shown and row["hf_ratio"] > 0


def test_the_experiment_aggregates_seeds_as_mean_and_std():
    def cell(value):
        part = {"dice": dict.fromkeys(seg_experiment.TISSUES, value), "mean_dice": value}
        return {"arms": {"(a) small real": dict.fromkeys(seg_experiment.PARTS, part)}}
    seeds = [{"0.05": {**cell(v), "hf_ratio": 1.0, "intensity_distance": None}} for v in (0.5, 0.7, None)]
    summary = seg_experiment.aggregate(seeds)
    assert summary["0.05"]["synthetic images"]["intensity_distance"]["mean"] is None
    stats = summary["0.05"]["(a) small real"]["held-out level"]["mean"]
    assert stats["mean"] == pytest.approx(0.6) and stats["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert seg_experiment.fmt(stats) == "0.600 ± 0.141" and seg_experiment.fmt({"mean": None}) == "—"
    with pytest.raises(SystemExit):
        benchmark().parse(["--held-out", "4"])


def test_paired_differences_pair_arms_seed_by_seed():
    def seed(a, b, c, d):
        dice = dict(zip(seg_experiment.ARMS, (a, b, c, d)))
        return {"0.05": {"arms": {arm: {part: {"mean_dice": v} for part in seg_experiment.PARTS}
                                  for arm, v in dice.items()}}}
    saved = {"per_seed": [seed(0.5, 0.3, 0.6, 0.6), seed(0.7, 0.4, 0.7, 0.8)]}
    diff = seg_experiment.paired_differences(saved, "0.05")
    assert diff["(c) - (a)"]["values"] == pytest.approx([0.1, 0.0])
    assert diff["(c) - (d)"]["mean"] == pytest.approx(-0.05)
    assert diff["(c) - (d)"]["std"] == pytest.approx(np.std([0.0, -0.1], ddof=1))
    assert diff["(b) - (a)"]["values"] == pytest.approx([-0.2, -0.3])
    one = seg_experiment.paired_differences({"per_seed": saved["per_seed"][:1]}, "0.05", seg_experiment.PARTS[1])
    assert one["(d) - (a)"]["std"] is None  # one seed has no spread


def test_the_experiment_refuses_settings_that_cannot_run(seg):
    seen, parts = seg_experiment.split_levels(seg["train"], seg["test"], held_out=0)
    assert set(parts) == set(seg_experiment.PARTS) and np.all(seen.labels != 0)
    assert np.all(parts["held-out level"].labels == 0) and np.all(parts["seen levels"].labels != 0)
    with pytest.raises(ValueError, match="held_out=4"):
        seg_experiment.split_levels(seg["train"], seg["test"], held_out=4)
    with pytest.raises(ValueError, match="fraction=0"):
        seg_experiment.small_real_set(seen, 0, seed=0)
    small = seg_experiment.small_real_set(seen, 0.01, seed=0)  # at least two pairs
    assert len(small) == 2
    with pytest.raises(ValueError, match="copies=0"):
        seg_experiment.Settings(copies=0)
    with pytest.raises(ValueError, match="gen_lr=0"):
        seg_experiment.Settings(gen_lr=0)
    with pytest.raises(ValueError, match="seeds"):
        seg_experiment.experiment(seg["train"], seg["test"], seeds=())


def test_the_control_and_the_synthetic_arm_share_their_masks(seg, untrained):
    real = seg_experiment.small_real_set(seg_experiment.split_levels(seg["train"], seg["test"], 0)[0], 0.5, 0)
    sets, facts = seg_experiment.training_sets(real, untrained, seg_experiment.Settings(copies=2), seed=1)
    syn_masks, control_masks = sets["(b) synthetic only"][1], sets["(d) real + deformed real"][1][len(real):]
    assert np.array_equal(syn_masks, control_masks) and len(syn_masks) == 2 * len(real)
    assert np.array_equal(sets["(a) small real"][1], real.masks)
    assert [len(sets[a][0]) for a in seg_experiment.ARMS] == [len(real), 2 * len(real), 3 * len(real), 3 * len(real)]
    assert facts["hf_ratio"] > 0 and "generator_steps" not in facts  # an untrained model, no Trained facts


def test_a_saved_mask_to_image_model_paints_the_same_after_loading(untrained, tmp_path):
    """pix2pix's run folder records the one-hot input width: the generator comes back as it was."""
    masks = blob_masks(2)
    before, _ = mask_synthesis.synthetic_pairs(untrained, masks)
    pix2pix.save(untrained, tmp_path / "mask-to-image")
    loaded = pix2pix.load(tmp_path / "mask-to-image", compile=False)
    assert loaded.config.in_channels == 4
    assert np.allclose(mask_synthesis.synthetic_pairs(loaded, masks)[0], before, atol=1e-6)


def test_the_generator_takes_its_size_and_learning_rate_from_the_settings(seg):
    settings = seg_experiment.Settings(gen_epochs=1, gen_filters=4, gen_batch_size=8, gen_lr=1e-3)
    trained = seg_experiment.train_generator(seg["train"], settings, seed=0)
    assert trained.steps == 2  # 16 pairs, batches of 8, one epoch
    assert float(trained.model.g_optimizer.learning_rate) == pytest.approx(1e-3)
    assert trained.model.config.g_base_filters == 4


def _saved(seeds, values, **args):
    """A saved result of the experiment with one arm, as ``seg_experiment.experiment`` writes it."""
    def row(v):
        part = {"dice": dict.fromkeys(seg_experiment.TISSUES, v), "mean_dice": v}
        return {"0.05": {"n_real": 6, "hf_ratio": 1.0, "intensity_distance": 0.01,
                         "arms": {"(a) small real": dict.fromkeys(seg_experiment.PARTS, part)}}}
    per_seed = [row(v) for v in values]
    return {"args": {"size": 64, "seeds": list(seeds), "fractions": [0.05], "held_out": 0, "copies": 4, **args},
            "held_out_level": "posterior fossa", "n_seen_train": 100, "n_test": {"seen levels": 9},
            "deform": {"alpha": 1}, "summary": seg_experiment.aggregate(per_seed), "per_seed": per_seed,
            "seconds": 10.0, "machine": {"node": "x", "cpus": 2, "platform": "linux"}}


def test_runs_of_single_seeds_merge_into_one_result():
    merged = seg_experiment.merge([_saved([0], [0.5]), _saved([1, 2], [0.7, 0.6])])
    assert merged["args"]["seeds"] == [0, 1, 2] and merged["seconds"] == 20.0
    stats = merged["summary"]["0.05"]["(a) small real"]["seen levels"]["mean"]
    assert stats["values"] == [0.5, 0.7, 0.6] and stats["mean"] == pytest.approx(0.6)
    assert "(a) small real" in seg_experiment.table(merged)


def test_merge_refuses_other_settings_and_repeated_seeds():
    with pytest.raises(ValueError, match="result 1 differs from result 0 in copies"):
        seg_experiment.merge([_saved([0], [0.5]), _saved([1], [0.5], copies=2)])
    with pytest.raises(ValueError, match=r"seed\(s\) \[0\] appear in more than one result"):
        seg_experiment.merge([_saved([0], [0.5]), _saved([0], [0.6])])
    with pytest.raises(ValueError, match="no results given"):
        seg_experiment.merge([])
