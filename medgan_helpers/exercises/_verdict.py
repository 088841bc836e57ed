"""The one way every exercise check reports its verdict."""

from __future__ import annotations

import math
from typing import Any


def verdict(ok: bool, success: str, hint: str) -> bool:
    """Print a friendly verdict and return ``ok`` (so tests can assert on it)."""
    if ok:
        print(f"✅ Correct — {success}")
    else:
        print(f"❌ Not yet — hint: {hint}")
    return bool(ok)


def close_to(value: Any, expected: float, *, rel_tol: float = 1e-3, abs_tol: float = 0.0) -> bool:
    """Whether a student's answer is a number within tolerance of ``expected``.

    An answer that is not a number at all (None, a string, a list) is simply wrong, not an
    error: the verdict's hint then tells the student what to compute."""
    try:
        return math.isclose(float(value), expected, rel_tol=rel_tol, abs_tol=abs_tol)
    except (TypeError, ValueError):
        return False


def finite_number(value: Any) -> float | None:
    """A student's answer as a finite float, or None when it is not one (None, text, NaN, a list)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
