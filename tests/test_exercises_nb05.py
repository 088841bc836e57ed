"""Notebook 05's exercise checks accept the solutions and reject typical mistakes."""

from __future__ import annotations

import numpy as np

from medgan_helpers.exercises import nb05
from tests.helpers import assert_checks_reexported


def test_nb05_checks_are_reexported():
    assert_checks_reexported("05")


def test_nb05_ex1_frechet_1d():
    assert nb05.check_frechet_1d(lambda m1, s1, m2, s2: (m1 - m2) ** 2 + (s1 - s2) ** 2)
    assert not nb05.check_frechet_1d(lambda m1, s1, m2, s2: (m1 - m2) ** 2)  # forgot the spread
    assert not nb05.check_frechet_1d(lambda m1, s1, m2, s2: (m1 - m2) ** 2 + s1**2 + s2**2 - 2 * s1**2 * s2**2)
    assert not nb05.check_frechet_1d(lambda *args: None)
    assert not nb05.check_frechet_1d("not a function")


def _auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_nb05_ex2_auc():
    assert nb05.check_auc(_auc)
    no_ties = lambda y, s: (s[y == 1][:, None] > s[y == 0][None, :]).mean()  # noqa: E731
    assert not nb05.check_auc(no_ties)
    assert not nb05.check_auc(lambda y, s: 1 / 0)


def test_nb05_ex3_possible_copies(capsys):
    assert nb05.check_possible_copies(lambda f, t: float(np.mean(f <= np.percentile(t, 1))))
    assert not nb05.check_possible_copies(lambda f, t: int(np.sum(f <= np.percentile(t, 1))))
    assert "fraction" in capsys.readouterr().out
    assert not nb05.check_possible_copies(lambda f, t: float(np.mean(f <= t.min())))
