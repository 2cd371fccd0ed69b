"""Notebook 07's explorer in a real browser: JupyterLab + headless Chromium (Debian's), driven by Playwright.

nbval cannot see widgets render; this test can. It needs /usr/bin/chromium (`apt-get install chromium`; `.ci/run`
installs it) and the `playwright` package (in the test extra); elsewhere it is skipped. Screenshots and the measured
redraw time go to test-artifacts/ (or $VAE_TEST_ARTIFACTS).
"""
import os
from contextlib import contextmanager
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NOTEBOOK = "07_beta_and_latent_size.ipynb"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]

playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (in the test extra) to run it")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="the browser test needs Debian's chromium: apt-get install chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {seconds} s")


@contextmanager
def lab_server(root_dir: Path, env: dict, log_path: Path):
    """JupyterLab on a free localhost port serving root_dir with `env`; yields its URL pattern
    (`.format(notebook)` gives a notebook's page); stopped afterwards."""
    port, token = free_port(), secrets.token_hex(16)
    log = open(log_path, "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}")
        yield f"http://127.0.0.1:{port}/lab/tree/{{}}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@contextmanager
def serve_notebook(tmp_path: Path, notebook: str, **env_vars: str):
    """JupyterLab serving a copy of notebooks/<notebook> in smoke mode (CI=true) with extra environment variables
    (e.g. a cache folder in tmp_path); yields the notebook's URL; stopped afterwards."""
    shutil.copy(ROOT / "notebooks" / notebook, tmp_path / notebook)
    env = {**os.environ, "CI": "true", **env_vars}
    with lab_server(tmp_path, env, tmp_path / "jupyterlab.log") as url:
        yield url.format(notebook)


@contextmanager
def notebook_page(url: str, failure_png: Path | None = None, height: int = 1100):
    """Headless Chromium on `url`, yielding the page once JupyterLab shows the notebook. If the body fails, the page
    is saved to `failure_png` first; the browser is closed afterwards."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": height})
            page.goto(url)
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            try:
                yield page
            except Exception:
                if failure_png is not None:
                    page.screenshot(path=str(failure_png))
                raise
        finally:
            browser.close()


def wait_for_image(page, image, timeout: int = 30_000) -> None:
    """Wait until the <img> locator `image` has a decoded picture."""
    page.wait_for_function("el => el && el.naturalWidth > 0", arg=image.element_handle(), timeout=timeout)


def seconds_to_redraw(page, image, before: str, action) -> float:
    """Run action() and wait until `image` shows a picture other than `before` (its old src): the seconds taken."""
    start = time.perf_counter()
    action()
    page.wait_for_function("([el, old]) => el.src !== old && el.naturalWidth > 0",
                           arg=[image.element_handle(), before], timeout=20_000)
    return time.perf_counter() - start


def artifacts_dir() -> Path:
    """test-artifacts/ (or $VAE_TEST_ARTIFACTS), created: where screenshots and measured latencies go."""
    path = Path(os.environ.get("VAE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab serving a copy of notebook 07 in smoke mode, its explorer cache in tmp_path; stopped afterwards."""
    with serve_notebook(tmp_path, NOTEBOOK, VAE_EXPLORER_CACHE=str(tmp_path / "cache")) as url:
        yield url


def run_all_cells(page, tries: int = 3) -> None:
    """Run > Run All Cells once the kernel is idle, checked by the first cell finishing; retried otherwise.

    A kernel that has just started can drop the cells queued to it while its connection settles.
    """
    for _ in range(tries):
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_selector(".jp-InputPrompt:has-text('[1]:')", timeout=30_000)
            return
        except playwright.TimeoutError:
            page.keyboard.press("Escape")
    raise AssertionError("Run All Cells did not run the notebook")


def test_explorer_renders_and_answers_the_beta_slider(jupyterlab):
    artifacts = artifacts_dir()
    with notebook_page(jupyterlab, artifacts / "explorer_failure.png") as page:
        run_all_cells(page)
        handle = page.wait_for_selector(".vae-explorer-beta .noUi-handle", state="visible", timeout=100_000)
        image = page.locator("img.vae-explorer-image").first
        wait_for_image(page, image)
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)  # every cell has run
        time.sleep(3)  # the explorer draws its other panels while the kernel is idle (6 in smoke mode)
        image.scroll_into_view_if_needed()
        before = image.get_attribute("src")
        page.screenshot(path=str(artifacts / "explorer_before.png"))
        assert page.get_by_text("Error displaying widget").count() == 0

        handle.focus()
        latency = seconds_to_redraw(page, image, before, lambda: page.keyboard.press("ArrowRight"))
        page.screenshot(path=str(artifacts / "explorer_after.png"))
        (artifacts / "explorer_redraw_seconds.txt").write_text(f"{latency:.3f}\n")
        print(f"\nexplorer redraw after a slider move: {latency:.3f} s; screenshots in {artifacts}")
        assert image.get_attribute("src") != before
        assert page.get_by_text("Error displaying widget").count() == 0
