"""Notebook 12's "draw this digit" widget in a real browser: JupyterLab + headless Chromium, driven by Playwright.

The set-up (Chromium, Playwright, JupyterLab, Run All Cells) is tests/test_browser.py's (serve_notebook, notebook_page); this file adds notebook 12,
run in smoke mode with its own zoo folder. Screenshots go to test-artifacts/ (or $VAE_TEST_ARTIFACTS).
"""
from pathlib import Path

import pytest

from test_browser import (CHROMIUM, artifacts_dir, notebook_page, run_all_cells, seconds_to_redraw, serve_notebook,
                          wait_for_image)

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
    with notebook_page(jupyterlab_12, artifacts / "digit_widget_failure.png") as page:
        run_all_cells(page)
        buttons = page.locator(".vae-digit-buttons")
        buttons.first.wait_for(state="visible", timeout=300_000)   # the smoke zoo trains two models first
        image = page.locator("img.vae-digit-image").first
        wait_for_image(page, image)
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=300_000)  # every cell has run
        image.scroll_into_view_if_needed()
        before = image.get_attribute("src")
        page.screenshot(path=str(artifacts / "digit_widget_before.png"))
        assert page.get_by_text("Error displaying widget").count() == 0

        eight = buttons.first.get_by_role("button", name="8", exact=True)
        latency = seconds_to_redraw(page, image, before, eight.click)
        page.get_by_text("digit 8: drawn in").first.wait_for(timeout=10_000)
        page.screenshot(path=str(artifacts / "digit_widget_after.png"))
        print(f"\ndigit widget redraw after a button click: {latency:.3f} s; screenshots in {artifacts}")
        assert image.get_attribute("src") != before
        assert page.get_by_text("Error displaying widget").count() == 0
