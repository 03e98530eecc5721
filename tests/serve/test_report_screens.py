"""report.html and the web page in real headless Chromium at desktop (1280 px) and phone (375 px) width.

The summary table must fit 1280 px without a scrollbar, every mode's swatch must have its own
colour, and the page must not scroll sideways on a phone. Screenshots go to $RAGTUNE_SCREENS
(for a person to look at) or the test's tmp folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragtune.evaluate.report import render_report
from tests.evaluate.test_report_layout import _five
from tests.serve.test_browser import ARGS, CHROMIUM

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(),
                                 reason="Debian's chromium is not installed: apt-get install -y chromium")]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _screens(tmp_path: Path) -> Path:
    out = Path(os.environ.get("RAGTUNE_SCREENS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_report_summary_fits_1280_and_modes_have_distinct_colours(browser, tmp_path):
    html = render_report(_five(), tmp_path / "report", sample_size=3)["html"]
    screens = _screens(tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(html.as_uri())
    table = page.locator("#summary table")
    widths = table.evaluate("t => [t.scrollWidth, t.parentElement.clientWidth]")
    assert widths[0] <= widths[1] <= 1280, widths  # no horizontal scrollbar on the summary table
    colours = page.eval_on_selector_all(
        "#summary .swatch", "els => els.map(e => [e.dataset.mode, getComputedStyle(e).backgroundColor])")
    assert len(colours) == 5 and len({c for _, c in colours}) == 5, colours
    cards = page.eval_on_selector_all(".qa:first-of-type .answer", "els => els.map(e => e.getBoundingClientRect().top)")
    assert len(cards) == 5 and len({round(t) for t in cards}) == 1  # five modes: one row of five cards
    page.screenshot(path=str(screens / "report-1280.png"), full_page=True)
    page.locator("#answers .qa").first.screenshot(path=str(screens / "report-1280-answers.png"))
    page.locator("#accuracy").screenshot(path=str(screens / "report-1280-accuracy.png"))
    phone = browser.new_page(viewport={"width": 375, "height": 800})
    phone.goto(html.as_uri())
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375  # only the tables scroll, not the page
    phone.screenshot(path=str(screens / "report-375.png"), full_page=True)


def test_web_page_screens(browser, live_server, tmp_path):
    screens = _screens(tmp_path)
    for width, name in ((1280, "web-1280.png"), (375, "web-375.png")):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(live_server.url + "/")
        page.wait_for_selector("#pipeline-list input")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(screens / name), full_page=True)
