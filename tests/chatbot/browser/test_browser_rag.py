"""RAG in the page, in Debian's Chromium: a PDF uploaded from the Documents panel shows its
progress and then its summary; with the collection picked, the answer lists its sources as
links under it, the PDF one opening at its page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from harness.browser import ARTIFACTS, TIMEOUT, chromium, require_chromium, send
from harness.documents import make_pdf
from harness.processes import chatbot, llmserver
from harness.uploads import rag_data_dir

expect.set_options(timeout=TIMEOUT)
require_chromium()

PDF = make_pdf(["Contents: the Gizmotron and its parts.",
                "The Gizmotron's battery lasts nine hours and charges over USB-C."],
               title="Gizmotron guide")


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with llmserver() as llm_url, \
            chatbot(llm_url, rag_data_dir(tmp_path_factory, "browser-rag"),
                    CHAT_MAX_TOKENS="24") as url:
        yield url


@pytest.fixture(scope="module")
def page(chat_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(chat_url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        yield page


def test_uploading_a_pdf_shows_progress_then_the_summary(
        page: Page, tmp_path_factory: pytest.TempPathFactory) -> None:
    pdf = Path(tmp_path_factory.mktemp("pdf")) / "gizmotron guide.pdf"
    pdf.write_bytes(PDF)
    page.click("#open-documents")
    expect(page.locator("#documents-dialog")).to_be_visible()
    page.evaluate("""() => {
        window.jobStates = [];
        new MutationObserver(() => {
            const job = document.querySelector('#ingest-jobs .job[data-state]');
            if (job) window.jobStates.push(job.dataset.state + ': ' + job.textContent);
        }).observe(document.querySelector('#ingest-jobs'),
                   {subtree: true, childList: true, characterData: true, attributes: true});
    }""")
    page.fill("#upload-form input[name=collection]", "gadgets")
    page.set_input_files("#upload-files", str(pdf))
    page.click("#upload-send")
    job = page.locator("#ingest-jobs .job").first
    expect(job).to_have_attribute("data-state", "done")
    expect(job).to_contain_text("Added")
    expect(job).to_contain_text("“gadgets”")
    states = page.evaluate("window.jobStates")
    assert any(s.startswith(("queued", "running", "progress")) for s in states), states
    row = page.locator("#collections-list tr[data-name=gadgets]")
    expect(row).to_contain_text("1 document, 2 chunks")
    page.select_option("#rag-collection", "gadgets")
    expect(page.locator("#open-documents")).to_have_attribute("data-on", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "documents-panel.png"))
    page.click("#documents-dialog .dialog-actions button")


def test_sources_render_as_links_under_the_answer(page: Page) -> None:
    expect(page.locator("#open-documents")).to_contain_text("gadgets")
    # A bare link is asked about, not answered: the composer stays free for the question.
    send(page, "https://example.org/")
    expect(page.locator(".notice .actions button")).to_have_text("Summarize it")
    expect(page.locator("#send")).to_be_visible()
    send(page, "How long does the Gizmotron battery last?")
    answer = page.locator("#messages .msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    link = answer.locator(".sources a").first
    expect(link).to_have_text("Gizmotron guide, p. 2")
    href = link.get_attribute("href") or ""
    assert href.startswith("/files/") and href.endswith("#page=2"), href
    page.screenshot(path=str(ARTIFACTS / "rag-answer.png"))
