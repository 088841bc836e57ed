"""Chromium for the browser tests: where it is, how it is started, where screenshots go.

Debian's ``chromium`` (``apt-get install chromium``) driven by Playwright for Python
with ``executable_path`` (Playwright's own browser download is not reachable).
A missing chromium skips the test, unless ``MEDGAN_REQUIRE_BROWSER`` is set: then
it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output"  # CI keeps this folder
CHROMIUM = os.environ.get("MEDGAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def require_chromium() -> str:
    """The chromium executable; skips (or, with MEDGAN_REQUIRE_BROWSER=1, fails) when absent."""
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = (
        f"chromium not found at {CHROMIUM}: install it with `sudo apt-get install chromium` "
        "(or set MEDGAN_CHROMIUM to its path)"
    )
    if os.environ.get("MEDGAN_REQUIRE_BROWSER", "").strip() not in {"", "0"}:
        pytest.fail(f"MEDGAN_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


@contextmanager
def launched(executable: str) -> Iterator:
    """A headless Playwright chromium browser, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()
