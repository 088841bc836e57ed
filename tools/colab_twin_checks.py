"""The checks that run inside the Colab twin, on its Python 3.13 and Colab's packages.

``tools/colab_twin.py`` runs this file in the twin (from the copy of the working
tree at ``/content/medgan-kit``); it is not meant to be run on the host.

    python colab_twin_checks.py setup-cell FILE   # FILE's source as a notebook's first cell
    python colab_twin_checks.py sampler           # drive widgets.SamplerWidget on Colab's ipywidgets

Each prints what it saw and a last line ``RESULT {json}``; the exit status is 0
only when the check passed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _result(ok: bool, **facts) -> int:
    print("RESULT " + json.dumps({"ok": ok, **facts}), flush=True)
    return 0 if ok else 1


def setup_cell(path: str) -> int:
    """Run the cell in a fresh IPython kernel, as Colab runs a notebook's first cell.

    The kernel is the twin's own (its IPython start-up imports the stand-in
    ``google.colab``, as Colab's kernel does), started by nbclient from ``/content``.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(Path(path).read_text())])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": "/content"}})
    start = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as failure:
        error = str(failure).strip().splitlines()[-1] if str(failure).strip() else type(failure).__name__
    text = []
    for output in nb.cells[0].outputs:
        if output.get("output_type") == "stream":
            text.append(output.get("text", ""))
        elif output.get("output_type") == "error":
            text.append("\n".join(output.get("traceback", [])))
        elif "text/plain" in output.get("data", {}):
            text.append(output["data"]["text/plain"] + "\n")
    printed = "".join(text)
    print(printed, end="" if printed.endswith("\n") else "\n")
    on_colab = "medgan setup — Google Colab" in printed
    if not error and not on_colab:
        error = "the setup cell did not see google.colab (the stand-in was not imported)"
    return _result(not error, error=error, seconds=round(time.perf_counter() - start, 1))


def sampler() -> int:
    """Build the sampler on a small generator and check that every control changes the image."""
    import io

    import ipywidgets
    import numpy as np
    from PIL import Image

    from medgan_helpers import data, models, widgets

    def shown(image_widget) -> np.ndarray:  # what the browser receives, decoded
        return np.asarray(Image.open(io.BytesIO(image_widget.value)))

    start = time.perf_counter()
    generator = models.build_generator(32, 1, 16, num_classes=4, base_filters=8, max_filters=32)
    brain = data.load_dataset("brain-mri", image_size=32, split="train")
    ui = widgets.SamplerWidget(generator, dataset=brain, pca_samples=64)
    changes: dict[str, bool] = {}

    def changed(name: str, action) -> None:
        before = shown(ui.image_widget)
        action()
        changes[name] = not np.array_equal(before, shown(ui.image_widget))

    changed("set(seed=7)", lambda: ui.set(seed=7))
    changed("seed slider", lambda: setattr(ui.seed_slider, "value", 8))
    changed("class dropdown", lambda: setattr(ui.class_dropdown, "value", 2))
    changed("truncation slider", lambda: setattr(ui.truncation_slider, "value", 0.5))
    if ui.direction_sliders:
        changed("direction slider", lambda: setattr(ui.direction_sliders[0], "value", 2.5))
    strip_before = ui.strip_widget.value
    ui.set(strip_seed=11)
    changes["interpolation strip"] = bool(ui.strip_widget.value) and ui.strip_widget.value != strip_before
    changes["nearest real image shown"] = bool(ui.nearest_widget.value) and ui.nearest_index is not None
    for name, ok in changes.items():
        print(f"  {'ok ' if ok else 'NOT'} {name}")
    return _result(
        all(changes.values()),
        ipywidgets=ipywidgets.__version__,
        changes=changes,
        seconds=round(time.perf_counter() - start, 1),
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["setup-cell"] and len(argv) == 2:
        return setup_cell(argv[1])
    if argv == ["sampler"]:
        return sampler()
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
