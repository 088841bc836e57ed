"""Sentences that contradicted the outputs or the measurements (issue 22) must not come back,
in a notebook source or in its stored .ipynb."""

from __future__ import annotations

import pytest

from medgan_helpers import config

OLD = {
    "01": ["are never even\n# read", "names, IDs, dates and institutions are never even"],
    "02": ["with the rest of the recipe it gave a lower FD",
           # the gallery's baseline was the transposed-convolution recipe until it was redrawn (2026-12-07)
           '("baseline", "transpose, kernel 4 stride 2")', "After 900 steps neither generator draws anatomy yet"],
    "03": ["the maps correlate almost perfectly", "at more than nine pixels in ten",
           "D is about a third of G's size here"],
    "05": ["about 5 minutes to run on a Colab GPU"],
    "06": ["(real test→train distances)"],
    "07": ["DiffAugment (always on in the kit's recipe)", "20 minutes on a 2-core CPU",
           "about 15 minutes on a Colab GPU"],
    "08": ["neither model has much to invent", "Four numbers, each with its direction",
           "(sharpness up, FD often down)"],
    "09": ["same sign, same fixed point); only their strength differs",
           "G's gradient is about ten times the baseline's from the first epoch on",
           "diversity is at or above the real one for the whole run",
           "DiffAugment, a G learning rate no larger than D's; `minibatch_std=True`",
           "This kit was written to replace a widely shared article on",
           # the gallery before it was redrawn with today's recipe
           "a salt-and-pepper speckle covers them", "G's gradient falls epoch after epoch to about",
           "G's learning rate ten times\n# higher and a D a quarter as wide",
           "brain-shaped blobs of\n# about the right size for each class, without inner anatomy yet"],
}


@pytest.mark.parametrize("number", sorted(OLD))
def test_old_wrong_sentences_are_gone(number):
    folder = config.REPO_ROOT / "notebooks"
    paths = [*folder.glob(f"src/{number}_*.py"), *folder.glob(f"{number}_*.ipynb")]
    assert len(paths) == 2, paths
    for path in paths:
        text = path.read_text(encoding="utf-8").replace("\\n", "\n")
        flat = " ".join(text.replace("#", " ").replace('"', " ").split())
        for sentence in OLD[number]:
            assert " ".join(sentence.replace("#", " ").split()) not in flat, f"{path.name}: {sentence!r} is back"
