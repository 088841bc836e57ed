"""The main job's front page (``artifacts/index.html``) as a reader's browser shows it.

A real main job, cut to the notebooks the page's first sections show: 04 trains
the brain-mri GAN, 05 evaluates it, 07 runs the own-data demo, all in quick mode
(``runner.main(["--quick", "--only", "04", "05", "07"])``) into a temporary
artifacts folder. The kit's shipped model (``data/pretrained``) joins the
side-by-side section as it does in ``kit.py run``. Then Chromium opens the page
from disk and checks that every picture has loaded, every relative link points
at a file that exists, and the first section holds real and generated strips of
one size. The full-page screenshot goes to ``test-output/front-page.png``.

    MEDGAN_QUICK=1 .venv/bin/pytest tests/test_front_page_browser.py -m browser -q
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests import _browser
from tests._browser import OUTPUT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1800)]

NOTEBOOKS = ["04", "05", "07"]


@pytest.fixture(scope="module")
def chromium_path() -> str:
    return _browser.require_chromium()


@pytest.fixture(scope="module")
def index_page(chromium_path, tmp_path_factory) -> Path:
    """``index.html`` of a quick main job of notebooks 04, 05 and 07 (a few minutes on 2 cores)."""
    from medgan_helpers.jobs import runner

    artifacts = tmp_path_factory.mktemp("main-job") / "artifacts"
    with pytest.MonkeyPatch.context() as patch:  # main() sets MEDGAN_QUICK itself; undo it after
        patch.setenv("MEDGAN_ARTIFACTS", str(artifacts))
        patch.setenv("MEDGAN_QUICK", "1")
        start = time.monotonic()
        code = runner.main(["--quick", "--only", *NOTEBOOKS])
        print(f"\nquick main job of {NOTEBOOKS}: {time.monotonic() - start:.0f} s")
    assert code == 0, f"the quick main job failed: see {artifacts / 'run_summary.json'}"
    return artifacts / "index.html"


@pytest.fixture(scope="module")
def page(chromium_path, index_page):
    with _browser.launched(chromium_path) as browser:
        tab = browser.new_page(viewport={"width": 1100, "height": 900})
        tab.goto(index_page.as_uri(), wait_until="load")
        OUTPUT.mkdir(exist_ok=True)
        tab.screenshot(path=str(OUTPUT / "front-page.png"), full_page=True)
        yield tab
        tab.close()


def test_every_picture_loads(page):
    images = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => ({src: i.getAttribute('src').slice(0, 60), ok: i.complete && i.naturalWidth > 0}))")
    assert images, "the page shows no picture"
    broken = [i["src"] for i in images if not i["ok"]]
    assert not broken, f"pictures that did not load: {broken}"


def test_every_relative_link_points_at_a_file(page, index_page):
    links = page.eval_on_selector_all("a[href], img[src]", "els => els.map(e => e.href || e.src)")
    local = [urlparse(link) for link in links if link.startswith("file:")]
    assert local, "no relative links at all"
    missing = [unquote(u.path) for u in local if not Path(unquote(u.path)).exists()]
    assert not missing, [str(Path(m).relative_to(index_page.parent)) for m in missing]


def test_first_section_shows_real_and_generated_strips_of_one_size(page):
    first = page.locator("section").first
    assert first.get_attribute("id") == "side-by-side"
    assert "Real and generated, side by side" in first.inner_text()
    sizes = first.locator("img.strip").evaluate_all(
        "imgs => imgs.map(i => [i.className, i.naturalWidth, i.naturalHeight])")
    roles = [cls.split()[-1] for cls, *_ in sizes]
    assert "real" in roles and "generated" in roles, roles
    assert roles.count("real") == roles.count("generated")
    assert len({(w, h) for _, w, h in sizes}) == 1, f"strips of different sizes: {sizes}"
    # the GAN family shows this run's model and the shipped one
    gan = page.locator("#family-gan").inner_text()
    assert "trained here: runs/brain-mri" in gan and "shipped: data/pretrained/brain-mri-64" in gan


def test_sections_come_in_the_readers_order_without_absolute_paths(page):
    ids = page.locator("body > section").evaluate_all("s => s.map(e => e.id)")
    order = [i for i in ids if i in ("side-by-side", "main-run", "own-data-demo", "notebooks")]
    assert order == ["side-by-side", "main-run", "own-data-demo", "notebooks"], ids
    text = page.locator("body").inner_text()
    for needle in ("/tmp/", "/home/", "/work/", ".venv", "/usr/"):
        assert needle not in text, needle
    assert "A small demo, not a result" in page.locator("#own-data-demo").inner_text()
    table = page.locator("#notebooks").inner_text()
    assert all(name in table for name in ("04_", "05_", "07_")) and "budget" in table
