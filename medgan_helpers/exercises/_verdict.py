"""The one way every exercise check reports its verdict."""

from __future__ import annotations


def verdict(ok: bool, success: str, hint: str) -> bool:
    """Print a friendly verdict and return ``ok`` (so tests can assert on it)."""
    if ok:
        print(f"✅ Correct — {success}")
    else:
        print(f"❌ Not yet — hint: {hint}")
    return bool(ok)
