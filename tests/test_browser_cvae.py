"""Notebook 12's "draw this digit" widget in a real browser: JupyterLab + headless Chromium, driven by Playwright.

The set-up (Chromium, Playwright, JupyterLab, Run All Cells) is tests/test_browser.py's (serve_notebook, open_notebook); this file adds notebook 12,
run in smoke mode with its own zoo folder. Screenshots go to test-artifacts/ (or $VAE_TEST_ARTIFACTS).
"""
import time
from pathlib import Path

import pytest

from test_browser import CHROMIUM, artifacts_dir, open_notebook, playwright, run_all_cells, serve_notebook

NOTEBOOK = "12_conditional_vae.ipynb"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="the browser test needs Debian's chromium: apt-get install chromium")


@pytest.fixture
def jupyterlab_12(tmp_path):
    """JupyterLab serving a copy of notebook 12 in smoke mode, its zoo in tmp_path; stopped afterwards."""
    with serve_notebook(tmp_path, NOTEBOOK, VAE_ZOO_CACHE=str(tmp_path / "zoo")) as url:
        yield url


def test_digit_widget_renders_and_a_digit_button_redraws(jupyterlab_12):
    artifacts = artifacts_dir()
    with playwright.sync_playwright() as p:
        browser, page = open_notebook(p, jupyterlab_12)
        try:
            run_all_cells(page)
            buttons = page.locator(".vae-digit-buttons")
            buttons.first.wait_for(state="visible", timeout=300_000)   # the smoke zoo trains two models first
            image = page.locator("img.vae-digit-image").first
            page.wait_for_function("el => el && el.naturalWidth > 0", arg=image.element_handle(), timeout=30_000)
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=300_000)  # every cell has run
            image.scroll_into_view_if_needed()
            before = image.get_attribute("src")
            page.screenshot(path=str(artifacts / "digit_widget_before.png"))
            assert page.get_by_text("Error displaying widget").count() == 0

            start = time.perf_counter()
            buttons.first.get_by_role("button", name="8", exact=True).click()
            page.wait_for_function("([el, old]) => el.src !== old && el.naturalWidth > 0",
                                   arg=[image.element_handle(), before], timeout=20_000)
            latency = time.perf_counter() - start
            page.get_by_text("digit 8: drawn in").first.wait_for(timeout=10_000)
            page.screenshot(path=str(artifacts / "digit_widget_after.png"))
            print(f"\ndigit widget redraw after a button click: {latency:.3f} s; screenshots in {artifacts}")
            assert image.get_attribute("src") != before
            assert page.get_by_text("Error displaying widget").count() == 0
        except Exception:
            page.screenshot(path=str(artifacts / "digit_widget_failure.png"))
            raise
        finally:
            browser.close()
