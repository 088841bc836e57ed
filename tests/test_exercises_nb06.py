"""Notebook 06's exercise checks: a right answer passes, typical wrong ones fail."""

from __future__ import annotations

import numpy as np

from medgan_helpers import sampling
from medgan_helpers.exercises import nb06
from tests.helpers import assert_checks_reexported


def test_nb06_checks_are_reexported():
    assert_checks_reexported("06")


def test_nb06_ex1_slerp():
    assert nb06.check_slerp(sampling.slerp)
    assert not nb06.check_slerp(lambda z0, z1, t: (1 - t) * z0 + t * z1)  # lerp


def test_nb06_ex2_nearest_real():
    def nearest(sample, reals):
        d = np.linalg.norm(reals.reshape(len(reals), -1) - sample.reshape(1, -1), axis=1)
        return int(np.argmin(d)), float(d.min())

    assert nb06.check_nearest_real(nearest)
    assert not nb06.check_nearest_real(lambda s, r: (nearest(s, r)[0], nearest(s, r)[1] ** 2))
    assert not nb06.check_nearest_real(lambda s, r: (0, 0.0))


def test_nb06_ex3_diversity():
    def diversity(images):
        flat = images.reshape(len(images), -1)
        d = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
        return d[np.triu_indices(len(images), 1)].mean()

    assert nb06.check_diversity(diversity)
    assert not nb06.check_diversity(lambda images: np.linalg.norm(
        images.reshape(len(images), -1)[:, None] - images.reshape(len(images), -1)[None], axis=-1).mean())
