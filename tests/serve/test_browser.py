"""The web page in real headless Chromium (Debian's ``chromium`` package), driven by Playwright.

Creates a knowledge base and uploads a document through the page, asks one question to two
pipelines, and checks both answers stream in with citations that expand to the source text.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serve.conftest import KB, ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed: apt-get install -y chromium"
    ),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def test_page_compares_two_pipelines_with_citations(browser, live_server, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    outside: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((live_server.url, "data:", "blob:")) else outside.append(r.url),
    )
    page.goto(live_server.url + "/")
    page.wait_for_selector(f"#pipeline-list input[value='rag:{KB}']")

    # a second knowledge base, made and filled through the page
    page.click("button[data-tab=kbs]")
    page.fill("#kb-new", "notes")
    page.click("#kb-create button[type=submit]")
    page.wait_for_selector("#kb-select option[value=notes]", state="attached")
    doc = tmp_path / "superbowl-notes.md"
    doc.write_text(
        "# Super Bowl 50\n\nThe Denver Broncos won Super Bowl 50, beating the Carolina Panthers 24-10 "
        "at Levi's Stadium in Santa Clara on February 7, 2016.\n"
    )
    page.set_input_files("#upload-files", str(doc))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-result .status-added")
    page.locator("#docs-table tbody tr", has_text="superbowl-notes.md").wait_for()
    assert page.locator("#docs-table tbody tr").count() == 1
    assert page.locator("#versions-table tbody tr").count() == 2  # created, then the upload

    # ask both knowledge bases the same question, side by side
    page.click("button[data-tab=compare]")
    page.wait_for_selector("#pipeline-list input[value='rag:notes']")
    for box in page.locator("#pipeline-list input").all():
        box.set_checked(box.get_attribute("value") in (f"rag:{KB}", "rag:notes"))
    page.fill("#question", "Who won Super Bowl 50?")
    page.fill("#max-tokens", "24")
    page.click("#ask-btn")
    finished = page.locator("#answers .answer .badge.ok, #answers .answer .badge.err")
    finished.nth(1).wait_for(timeout=180_000)  # locators, not wait_for_function: the page's CSP forbids eval
    cards = page.locator("#answers .answer")
    assert cards.count() == 2
    assert sorted(cards.nth(i).locator(".pipe").inner_text() for i in range(2)) == [f"rag:{KB}", "rag:notes"]
    for i in range(2):
        card = cards.nth(i)
        assert "error" not in card.locator(".badge").inner_text()
        assert card.locator(".text").inner_text().strip()
        assert (
            "tokens" in card.locator(".meta").inner_text()
            and " s total" in card.locator(".meta").inner_text()
        )
        assert card.locator(".cites details").count() >= 1
    notes = page.locator("#answers .answer[data-pipeline='rag:notes']")
    notes.locator(".cites summary").first.click()
    quote = notes.locator(".cites details[open] blockquote").first
    assert "Denver Broncos won Super Bowl 50" in quote.inner_text()
    page.screenshot(path=str(ARTIFACTS / "serve_page.png"), full_page=True)

    # the knowledge-base tab lists the documents and versions
    page.click("button[data-tab=kbs]")
    page.locator("#docs-table tbody tr", has_text="superbowl-notes.md").wait_for()
    page.screenshot(path=str(ARTIFACTS / "serve_page_kbs.png"), full_page=True)

    # a report of a past comparison opens in the page (signed link, sandboxed frame)
    run = Path(live_server.app.state.ragtune.settings.data_dir) / "reports" / "run-browser"
    run.mkdir(parents=True, exist_ok=True)
    (run / "report.html").write_text(
        "<!doctype html><style>h1{color:#1f5fbf}</style><h1>Key differences</h1>"
        "<script>document.body.append('script ran')</script>"
    )
    page.click("button[data-tab=reports]")
    page.locator("#report-list li", has_text="run-browser").locator("button").click()
    frame = page.frame_locator("#report-frame")
    assert frame.locator("h1").inner_text() == "Key differences"
    frame.locator("body", has_text="script ran").wait_for()

    phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    phone.goto(live_server.url + "/")
    phone.wait_for_selector(f"#pipeline-list input[value='rag:{KB}']")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling on a phone
    phone.screenshot(path=str(ARTIFACTS / "serve_page_phone.png"), full_page=True)
    assert errors == [] and outside == []


def test_page_keeps_a_conversation_per_pipeline(browser, live_server):
    """A RAG follow-up with a pronoun is searched with its rewrite; New conversation forgets the turns."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/")
    page.wait_for_selector(f"#pipeline-list input[value='rag:{KB}']")
    for box in page.locator("#pipeline-list input").all():
        box.set_checked(box.get_attribute("value") == f"rag:{KB}")
    page.fill("#max-tokens", "12")
    card = page.locator(f"#answers .answer[data-pipeline='rag:{KB}']")

    def ask(question: str) -> None:
        page.fill("#question", question)
        page.click("#ask-btn")
        card.locator(".badge.ok, .badge.err").wait_for(timeout=60_000)
        page.wait_for_selector("#ask-btn:enabled")  # #turns is set once every pipeline has answered
        assert page.locator("#answers .answer").count() == 1
        assert "error" not in card.locator(".badge").inner_text(), card.locator(".text").inner_text()

    first = "Who won Super Bowl 50?"
    ask(first)
    assert page.locator("#turns").inner_text() == ""  # one turn is not yet a conversation
    assert card.locator(".query").inner_text() == f"searched for: {first}"

    follow_up = "Where was it played?"
    ask(follow_up)
    assert page.locator("#turns").inner_text() == "conversation: 2 turns"
    searched = card.locator(".query").inner_text()
    assert searched.startswith("searched for: ")
    rewrite = searched.removeprefix("searched for: ").strip()
    assert rewrite and rewrite != follow_up  # the standalone rewrite, not the follow-up as typed

    page.click("#new-conversation")
    assert page.locator("#answers .answer").count() == 0
    assert page.locator("#turns").inner_text() == ""
    ask(follow_up)  # now a first question again: searched as asked, no earlier turns sent
    assert page.locator("#turns").inner_text() == ""
    assert card.locator(".query").inner_text() == f"searched for: {follow_up}"
    assert errors == []
