"""Issue 21: class names that slug to the same folder made one class overwrite another's PNGs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from medgan_helpers import synthetic


class LevelSampler:
    """A real (if tiny) Sampler: class k draws images of the constant grey level 40*k - 100, per pixel
    varied by the sample index, so every file can be traced back to its label and position."""

    latent_dim = 1

    def __init__(self, class_names):
        self.class_names = list(class_names)
        self.num_classes = len(class_names)
        self.image_size, self.channels = 8, 1

    def sample_latent(self, n, seed=0, truncation=None):
        return np.arange(n, dtype=np.float32)[:, None]

    def generate_from_latent(self, z, labels=None):
        labels = np.zeros(len(z), int) if labels is None else np.asarray(labels)
        level = (40 * labels - 100 + 3 * z[:, 0]) / 127.5
        return np.broadcast_to(level[:, None, None, None], (len(z), 8, 8, 1)).astype(np.float32)

    def generate(self, n, labels=None, seed=0, truncation=None):
        return self.generate_from_latent(self.sample_latent(n, seed, truncation), labels)


@pytest.mark.parametrize("names", [["肿瘤", "正常"], ["T1 post", "T1_post", "t1-POST"]])
def test_every_labels_row_holds_the_pixels_of_its_own_label(names, tmp_path):
    sampler = LevelSampler(names)
    folder = synthetic.export_synthetic(sampler, 3, name="x", out_root=tmp_path)
    rows = list(csv.DictReader(open(folder / "labels.csv", encoding="utf-8")))
    assert len(rows) == 3 * len(names) and len({r["file"] for r in rows}) == len(rows)
    assert len(list((folder / "images").rglob("*.png"))) == len(rows)
    for row in rows:
        label = int(row["label"])
        index = int(row["file"].rsplit("/", 1)[1].split(".")[0])
        expected = sampler.generate(3, labels=np.full(3, label))[index]
        pixels = np.asarray(Image.open(folder / row["file"]))
        assert np.abs(pixels.astype(int) - np.rint((expected[..., 0] + 1) * 127.5)).max() <= 1
        assert row["class_name"] == names[label] and row["file"].startswith(f"images/{label:02d}_")


def test_folder_names_are_index_plus_slug_and_a_repeated_name_is_refused(tmp_path):
    assert synthetic.class_folders(["T1 post", "肿瘤", "Ödem"]) == ["00_t1-post", "01_class", "02_odem"]
    assert synthetic.class_folders([f"c{i}" for i in range(101)])[100] == "100_c100"
    with pytest.raises(ValueError, match="class 1 .* and class 0 .* same name"):
        synthetic.export_synthetic(LevelSampler(["Tumour", "ｔｕｍｏｕｒ"]), 1, name="y", out_root=tmp_path)
