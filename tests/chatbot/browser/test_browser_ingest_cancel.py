"""Cancelling an ingestion from the page, in Debian's Chromium: a URL whose site never
answers shows a Cancel button beside its progress; clicking it ends the job as cancelled
while the site is still holding the fetch."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from harness.browser import TIMEOUT, chromium, require_chromium
from harness.documents import HTML, html_page, serve
from harness.processes import chatbot, free_port
from harness.uploads import rag_data_dir

expect.set_options(timeout=TIMEOUT)
require_chromium()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    let_go = threading.Event()

    def stuck() -> tuple[int, dict[str, str], bytes]:
        let_go.wait(TIMEOUT / 1000)
        return 200, HTML, html_page("Stuck", "<p>Never in time.</p>")

    with serve({"/stuck": stuck}) as base, \
            chatbot(f"http://127.0.0.1:{free_port()}",
                    rag_data_dir(tmp_path_factory, "browser-cancel"),
                    RAG_URL_ALLOWLIST="127.0.0.1", RAG_FETCH_TIMEOUT="120",
                    RAG_FETCH_DEADLINE="120") as url, \
            chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        page.base_url = base  # type: ignore[attr-defined]
        yield page
        let_go.set()


def test_a_job_is_cancelled_from_its_progress(page: Page) -> None:
    page.click("#open-documents")
    page.fill("#upload-form input[name=collection]", "stuck-site")
    page.fill("#url-input", f"{page.base_url}/stuck")  # type: ignore[attr-defined]
    page.click("#url-send")
    job = page.locator("#ingest-jobs .job").first
    expect(job).to_have_attribute("data-state", "running")
    job.locator("button.job-cancel").click()
    expect(job).to_have_attribute("data-state", "cancelled")
    expect(job).to_contain_text("Cancelled")
    expect(job.locator("button.job-cancel")).to_have_count(0)
