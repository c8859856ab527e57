"""Office files from the page, in Debian's Chromium: a PPTX and an XLSX uploaded with a file
the page cannot add; the job's summary names that file and why, and the collection lists the
two documents by their kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from harness.browser import TIMEOUT, chromium, require_chromium
from harness.fake_llm import FakeLLM
from harness.formats import make_pptx, make_xlsx
from harness.processes import chatbot
from harness.uploads import rag_data_dir

expect.set_options(timeout=TIMEOUT)
require_chromium()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    with FakeLLM() as fake, \
            chatbot(fake.url, rag_data_dir(tmp_path_factory, "browser-formats")) as url, \
            chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        yield page


def test_office_files_added_and_the_unreadable_one_named(
        page: Page, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = Path(tmp_path_factory.mktemp("upload"))
    (folder / "review.pptx").write_bytes(make_pptx(
        [("Next quarter", ["Open the Kerrow route in April"], "")]))
    (folder / "prices.xlsx").write_bytes(make_xlsx({"Tickets": [["Route", "Adult"],
                                                                ["Kerrow", 12.5]]}))
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    page.click("#open-documents")
    page.fill("#upload-form input[name=collection]", "office")
    # The picker offers the supported kinds only; a file dropped on it or picked with
    # "All files" still reaches the server, as here.
    page.set_input_files("#upload-files", [str(folder / n) for n in
                                           ("review.pptx", "prices.xlsx", "photo.jpg")])
    page.click("#upload-send")
    job = page.locator("#ingest-jobs .job").first
    expect(job).to_have_attribute("data-state", "done")
    expect(job).to_contain_text("from 2 documents to “office”")
    expect(job).to_contain_text("Not read: photo.jpg (unsupported kind '.jpg').")
    page.click("#collections-list tr[data-name=office] button.open-collection")
    expect(page.locator("#documents-list tr[data-kind=pptx]")).to_contain_text("review.pptx")
    expect(page.locator("#documents-list tr[data-kind=xlsx]")).to_contain_text("prices.xlsx")
