"""Real slices beside sample grids, all at the same size: the picture behind a realism row.

A 4 x 4 grid of real brain-mri training slices (one column per class, four
random slices of each class, seed fixed) is drawn at the size of the sample
grids that training runs save (``samples/epoch_NNN.png``) and of the shipped
model's ``samples.png``, then every grid is put side by side with its title.

    python benchmarks/realism_figure.py --out docs/results/highpass_d_vs_recipe.png \\
        "shipped recipe, 9,000 steps=data/pretrained/brain-mri-64/samples.png" \\
        "high-pass D, seed 0, 9,000 steps=artifacts/benchmarks/realism-ablation-runs/D_sees_a_high-pass_channel-seed0-9000/samples/epoch_120.png"
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def real_grid(image_size: int = 64, per_class: int = 4, seed: int = 0) -> np.ndarray:
    """``per_class`` random training slices of each class: rows = samples, columns = classes (as SampleGrid)."""
    from medgan_helpers import data, pictures

    real = data.load_dataset("brain-mri", image_size, "train")
    rng = np.random.default_rng(seed)
    columns = [real.images[rng.choice(np.flatnonzero(real.labels == k), per_class, replace=False)]
               for k in range(len(real.class_names))]
    images = np.stack(columns, axis=1).reshape(-1, *real.images.shape[1:])
    return pictures.image_grid(images, columns=len(columns))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("grids", nargs="+", metavar="TITLE=PNG", help="sample grids to show beside the real one")
    parser.add_argument("--out", required=True, help="the PNG to write")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    panels = []
    for item in args.grids:
        title, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            parser.error(f"{item!r}: expected TITLE=PNG with an existing PNG file")
        panels.append((title, np.asarray(Image.open(path).convert("L"))))
    from medgan_helpers import pictures

    grid = real_grid()  # upscaled the way the kit writes its sample grids (nearest neighbour, whole factor)
    real = pictures.from_png(pictures.to_png(grid, scale=max(1, panels[0][1].shape[0] // grid.shape[0])))
    panels.insert(0, ("real training slices", real[..., 0]))
    sizes = {p.shape for _, p in panels}
    if len(sizes) != 1:
        parser.error(f"the grids differ in size {sorted(sizes)}: compare pictures at one size")

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.5), dpi=180)
    for ax, (title, picture) in zip(axes, panels):
        ax.imshow(picture, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle("brain-mri 64 px, one column per class (cerebellum / brainstem, basal ganglia, "
                 "centrum semiovale, vertex)", fontsize=8)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
