"""Real-browser tests: notebook 06's sampler in JupyterLab and as a Voilà app.

Debian's ``chromium`` (``apt-get install chromium``) is driven by Playwright for
Python (``executable_path="/usr/bin/chromium"``; Playwright's own browser download
is not needed). Each test starts a real server on a free 127.0.0.1 port from this
venv (so the ``python3`` kernelspec resolves to this venv's python), opens
notebook 06, waits for the sampler, moves the seed slider and the class dropdown,
and asserts that the sample ``<img>``'s image bytes changed. Screenshots go to
``test-output/``.

They skip only when chromium is absent and ``MEDGAN_REQUIRE_BROWSER`` is unset;
with ``MEDGAN_REQUIRE_BROWSER=1`` a missing chromium is a failure. Notebook 06
runs with ``MEDGAN_QUICK=1``.

    MEDGAN_QUICK=1 .venv/bin/pytest tests/test_browser.py -m browser -q
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests import _browser
from tests._browser import OUTPUT, ROOT

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

NOTEBOOK = ROOT / "notebooks" / "06_interactive_sampling.ipynb"
NOTEBOOK_TIMEOUT_MS = 300_000  # running notebook 06 in quick mode (2-core CPU)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; log:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"server did not listen on port {port} within {timeout} s; log:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    """Stop a server we started (its own process group: the server and its kernels)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    return _browser.require_chromium()


@pytest.fixture(scope="module")
def served_dir(tmp_path_factory) -> Path:
    """A temp folder holding notebook 06 without outputs or saved widget state."""
    if not NOTEBOOK.is_file():
        pytest.fail(f"{NOTEBOOK} is missing: build it with `.venv/bin/python tools/build_notebooks.py 06`")
    folder = tmp_path_factory.mktemp("nb06")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)  # the sampler must come from the live kernel
    nbformat.write(nb, folder / NOTEBOOK.name)
    OUTPUT.mkdir(exist_ok=True)
    return folder


def _server_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MEDGAN_QUICK="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "lab-workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
        # the kernel imports this checkout's package even from a temp folder
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    # JupyterLab 4 asks whether to fetch Jupyter news: answer once, here, with "no"
    settings = tmp / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    # keep every cell in the DOM (JupyterLab 4 virtualises cells scrolled out of view)
    tracker = tmp / "lab-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    return env


@pytest.fixture(scope="module")
def jupyterlab(served_dir, tmp_path_factory) -> Iterator[str]:
    """A real JupyterLab on a free port; yields its URL with the token."""
    tmp = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), secrets.token_hex(16)
    log = OUTPUT / "jupyterlab-server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
             "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={served_dir}", "--ServerApp.open_browser=False",
             *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
            stdout=out, stderr=subprocess.STDOUT, env=_server_env(tmp), cwd=served_dir,
            start_new_session=True,
        )
    try:
        _wait_for_port(port, process, log)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:  # the port opens before the REST API answers
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={token}"
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def voila(served_dir, tmp_path_factory) -> Iterator[str]:
    """``voila --no-browser --port=<free> notebooks/06_interactive_sampling.ipynb``; yields its URL."""
    tmp = tmp_path_factory.mktemp("voila")
    port = _free_port()
    log = OUTPUT / "voila-server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
             str(served_dir / NOTEBOOK.name)],
            stdout=out, stderr=subprocess.STDOUT, env=_server_env(tmp), cwd=served_dir,
            start_new_session=True,
        )
    try:
        _wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser(chromium_path):
    with _browser.launched(chromium_path) as instance:
        yield instance


# -- reading the sample image out of the page -------------------------------------

_IMAGE_BYTES_JS = """async (img) => {
    const response = await fetch(img.src);
    const bytes = new Uint8Array(await response.arrayBuffer());
    let text = '';
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text);
}"""


def sample_png(page) -> bytes:
    """The PNG bytes the sample <img> shows now (its src is a blob: or data: URL)."""
    return base64.b64decode(page.locator("img.medgan-sample").last.evaluate(_IMAGE_BYTES_JS))


def wait_for_new_sample(page, old_src: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(
        "(old) => { const imgs = document.querySelectorAll('img.medgan-sample');"
        " return imgs.length && imgs[imgs.length - 1].src !== old; }",
        arg=old_src, timeout=timeout_ms,
    )


def wait_for_caption(page, text: str, timeout_ms: int = 60_000) -> None:
    """Wait until the caption under the sample (written by the kernel) contains ``text``."""
    page.wait_for_function(
        "(text) => { const c = document.querySelectorAll('.medgan-caption');"
        " return c.length && c[c.length - 1].textContent.replace(/\\u00a0/g, ' ').includes(text); }",
        arg=text, timeout=timeout_ms,
    )


def current_src(page) -> str:
    return page.locator("img.medgan-sample").last.get_attribute("src") or ""


def move_seed_slider(page) -> None:
    """Focus the seed slider's handle and press the arrow key (keyboard, like a user)."""
    handle = page.locator(".medgan-seed .noUi-handle, .medgan-seed .ui-slider-handle").last
    handle.click()
    for _ in range(3):
        handle.press("ArrowRight")


def exercise_sampler(page, name: str) -> dict:
    """Move the seed slider, then the class dropdown; assert the image bytes change each time."""
    page.locator("img.medgan-sample").last.scroll_into_view_if_needed()
    before = sample_png(page)
    page.screenshot(path=str(OUTPUT / f"{name}-1-sampler.png"), full_page=False)
    src = current_src(page)
    readout = page.locator(".medgan-seed .widget-readout").last.inner_text()
    move_seed_slider(page)
    wait_for_new_sample(page, src)
    new_readout = page.locator(".medgan-seed .widget-readout").last.inner_text().strip()
    assert new_readout != readout
    wait_for_caption(page, f"seed {new_readout}")  # the kernel has caught up with the slider
    after_seed = sample_png(page)
    assert hashlib.sha1(after_seed).digest() != hashlib.sha1(before).digest(), "seed slider did not change the image"
    page.screenshot(path=str(OUTPUT / f"{name}-2-after-seed.png"))

    select = page.locator(".medgan-class select").last
    options = select.locator("option").all_inner_texts()
    assert len(options) >= 2, f"class dropdown has options {options}"
    current = select.evaluate("(s) => s.selectedIndex")
    src = current_src(page)
    select.select_option(index=(current + 1) % len(options))
    wait_for_new_sample(page, src)
    # ipywidgets 8 writes option labels with non-breaking spaces
    wait_for_caption(page, options[(current + 1) % len(options)].replace("\xa0", " ").strip())
    after_class = sample_png(page)
    assert after_class != after_seed, "class dropdown did not change the image"
    page.screenshot(path=str(OUTPUT / f"{name}-3-after-class.png"))
    return {"before": before, "seed": after_seed, "class": after_class}


# -- the tests ----------------------------------------------------------------------


def test_sampler_in_jupyterlab(browser, jupyterlab):
    start = time.monotonic()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(jupyterlab, wait_until="domcontentloaded", timeout=60_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        # wait for the kernel to be ready before running all cells
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator, .jp-KernelStatus, "
            "[data-status]')].length > 0", timeout=60_000,
        )
        page.locator(".jp-Notebook").first.click()
        # the JupyterLab menu: Run > Run All Cells
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        page.wait_for_selector("img.medgan-sample", state="attached", timeout=NOTEBOOK_TIMEOUT_MS)
        # every code cell has run (no "[*]" prompt, every prompt numbered) before we touch a control:
        # the notebook's own sampler.set(...) cell must not race with the slider
        n_code = page.locator(".jp-CodeCell").count()
        page.wait_for_function(
            "(n) => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
            ".map(e => e.textContent.trim());"
            " return p.length === n && p.every(t => /\\[\\d+\\]/.test(t)); }",
            arg=n_code, timeout=NOTEBOOK_TIMEOUT_MS,
        )
        page.screenshot(path=str(OUTPUT / "jupyterlab-0-after-run-all.png"))
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t.split("\n")[0]]
        assert not tracebacks, f"a cell failed in JupyterLab: {tracebacks[0][:2000]}"
        # the notebook's kernel imports this environment's ipywidgets and kit (its version line)
        import ipywidgets

        import medgan_helpers

        text = page.locator(".jp-Notebook").inner_text()
        assert f"ipywidgets {ipywidgets.__version__}" in text, text[:2000]
        assert f"medgan_helpers {medgan_helpers.__version__}" in text, text[:2000]
        exercise_sampler(page, "jupyterlab")
    finally:
        page.close()
    print(f"\nJupyterLab browser test: {time.monotonic() - start:.0f} s")


def test_sampler_in_voila(browser, voila):
    start = time.monotonic()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(voila, wait_until="domcontentloaded", timeout=NOTEBOOK_TIMEOUT_MS)
        page.wait_for_selector("img.medgan-sample", state="attached", timeout=NOTEBOOK_TIMEOUT_MS)
        page.screenshot(path=str(OUTPUT / "voila-0-page.png"), full_page=True)
        text = page.locator("body").inner_text()
        assert "Interactive sampling" in text
        assert "def my_slerp" not in text and "SamplerWidget(" not in text, "Voilà must hide the code"
        assert "Traceback" not in text, f"a cell failed in Voilà: {text[text.find('Traceback'):][:2000]}"
        exercise_sampler(page, "voila")
        page.screenshot(path=str(OUTPUT / "voila-4-full-page.png"), full_page=True)
    finally:
        page.close()
    print(f"\nVoilà browser test: {time.monotonic() - start:.0f} s")


def test_chromium_requirement_is_honoured(monkeypatch, tmp_path):
    """With MEDGAN_REQUIRE_BROWSER=1 a missing chromium fails instead of skipping."""
    monkeypatch.setattr(_browser, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("MEDGAN_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="MEDGAN_REQUIRE_BROWSER"):
        _browser.require_chromium()
    monkeypatch.delenv("MEDGAN_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        _browser.require_chromium()

