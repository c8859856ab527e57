"""A collection's documents in the page, in Debian's Chromium: listed with their link, kind,
chunks and date; a URL fetched again; one removed; and the retrieval debug view (a setting)
showing under an answer each passage's lexical rank, vector rank and fused score."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from harness.browser import ARTIFACTS, TIMEOUT, chromium, new_chat, require_chromium, send
from harness.documents import HTML, html_page, serve
from harness.processes import chatbot, llmserver
from harness.uploads import rag_data_dir

expect.set_options(timeout=TIMEOUT)
require_chromium()

NOTES = "# Kettle manual\n\nThe Brewmaster kettle boils one litre in ninety seconds.\n"


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    page = html_page("Kettle recall", "<p>Brewmaster kettles made in 2019 are recalled.</p>")
    with serve({"/recall": (200, HTML, page)}) as base:
        yield base + "/recall"


@pytest.fixture(scope="module")
def page(site: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    with llmserver() as llm_url, \
            chatbot(llm_url, rag_data_dir(tmp_path_factory, "browser-documents"),
                    CHAT_MAX_TOKENS="16", RAG_URL_ALLOWLIST="127.0.0.1") as url, \
            chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(TIMEOUT)
        page.on("dialog", lambda dialog: dialog.accept())  # the confirm() before removing
        page.goto(url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        yield page


def test_documents_listed_refetched_and_removed(page: Page, site: str,
                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    notes = Path(tmp_path_factory.mktemp("notes")) / "kettle.md"
    notes.write_text(NOTES)
    page.click("#open-documents")
    page.fill("#upload-form input[name=collection]", "kitchen")
    page.set_input_files("#upload-files", str(notes))
    page.click("#upload-send")
    expect(page.locator("#ingest-jobs .job").first).to_have_attribute("data-state", "done")
    page.fill("#url-input", site)
    page.click("#url-send")
    expect(page.locator("#ingest-jobs .job").first).to_contain_text("Added 1 chunks")
    page.click("#collections-list tr[data-name=kitchen] button.open-collection")
    rows = page.locator("#documents-list tr")
    expect(rows).to_have_count(2)
    file_row = page.locator("#documents-list tr[data-kind=markdown]")
    expect(file_row).to_contain_text("Kettle manual (kettle.md)")
    expect(file_row).to_contain_text("1 chunk")
    href = file_row.locator("a").get_attribute("href") or ""
    assert href.startswith("/files/"), href
    url_row = page.locator("#documents-list tr[data-kind=url]")
    expect(url_row.locator("a")).to_have_attribute("href", site)
    expect(file_row.locator("button.refetch")).to_have_count(0)
    # Each document's health: when it changed, when it was last checked, in full on hover.
    expect(file_row.locator("td.health")).to_contain_text("checked")
    assert "last checked" in (file_row.locator("td.health").get_attribute("title") or "")
    # The test retrieval box: the passages a question finds, with their ranks.
    page.fill("#test-query", "How do I get limescale out of the kettle?")
    page.click("#test-run")
    results = page.locator("#test-results li")
    expect(results.first).to_contain_text("lexical rank")
    expect(results.first).to_contain_text("Kettle manual")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "documents-list.png"))

    url_row.locator("button.refetch").click()
    job = page.locator("#ingest-jobs .job").first
    expect(job).to_contain_text("1 already there, unchanged")

    # A file that could not be read is named under "Not added", with why.
    broken = Path(tmp_path_factory.mktemp("broken")) / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 cut short")
    page.set_input_files("#upload-files", str(broken))
    page.click("#upload-send")
    expect(page.locator("#ingest-jobs .job").first).to_have_attribute("data-state", "done")
    page.click("#collections-list tr[data-name=kitchen] button.open-collection")
    expect(page.locator("#documents-failed")).to_be_visible()
    expect(page.locator("#documents-failed li")).to_contain_text("broken.pdf")

    url_row.locator("button.remove-document").click()
    expect(rows).to_have_count(1)
    expect(page.locator("#collections-list tr[data-name=kitchen]")).to_contain_text(
        "1 document, 1 chunk")
    page.click("#documents-dialog .dialog-actions button")


def saved(page: Page, value: str) -> None:
    """Wait for the debug toggle to be saved: that happens when the settings dialog has
    closed, after the click returns. (Polled from here: `wait_for_function` evaluates a
    string in the page, which its CSP forbids.)"""
    deadline = time.monotonic() + 30
    while page.evaluate("localStorage.getItem('retrieval-debug')") != value:
        assert time.monotonic() < deadline, f"the debug toggle was not saved as {value!r}"
        page.wait_for_timeout(50)


def test_debug_view_shows_ranks_under_the_answer(page: Page) -> None:
    page.click("#open-settings")
    page.check("#retrieval-debug")
    page.click("#settings-dialog button[value=save]")
    saved(page, "on")
    send(page, "/rag on kitchen")
    expect(page.locator("#open-documents")).to_have_attribute("data-on", "true")
    send(page, "How fast does the Brewmaster kettle boil a litre?")
    answer = page.locator("#messages .msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    debug = answer.locator(".retrieval-debug")
    expect(debug).to_contain_text("Retrieval: 1 passage from “kitchen”")
    debug.locator("summary").click()
    best = debug.locator("li").first
    expect(best).to_contain_text("Kettle manual")
    expect(best).to_contain_text("lexical rank 1, vector rank 1, fused score 0.0")
    page.screenshot(path=str(ARTIFACTS / "retrieval-debug.png"))
    # Off again: the next answer has no debug view.
    page.click("#open-settings")
    page.uncheck("#retrieval-debug")
    page.click("#settings-dialog button[value=save]")
    saved(page, "off")
    send(page, "And how much water does it hold?")
    second = page.locator("#messages .msg.assistant").last
    expect(page.locator("#messages .msg.assistant")).to_have_count(2)
    expect(second).to_have_attribute("data-state", "done")
    expect(second.locator(".retrieval-debug")).to_have_count(0)


def test_a_mention_grounds_one_question(page: Page) -> None:
    """`#` lists the user's documents; the one chosen grounds this question (RAG is off)."""
    new_chat(page)  # documents are off in a new conversation
    prompt = page.locator("#prompt")
    prompt.press_sequentially("How fast does it boil? #kett")
    options = page.locator("#mention-list [role=option]")
    expect(options.first).to_contain_text("Kettle manual (kettle.md)")
    expect(prompt).to_have_attribute("aria-expanded", "true")
    prompt.press("Enter")  # chooses; it does not send
    expect(prompt).to_have_value("How fast does it boil? #kettle.md ")
    expect(page.locator("#mention-list")).to_be_hidden()
    prompt.press("Enter")
    answer = page.locator(".msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator(".sources")).to_contain_text("Kettle manual")


def test_an_attached_file_grounds_its_question(page: Page,
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    """The paperclip uploads into the conversation's own collection; the message carries the
    file, its answer cites it, and the message shows it with a link."""
    new_chat(page)
    picnic = Path(tmp_path_factory.mktemp("attach")) / "picnic.md"
    picnic.write_text("# Picnic\n\nThe picnic is on the hill at noon.\n")
    page.set_input_files("#attach-files", str(picnic))
    chip = page.locator("#attachments li")
    expect(chip).to_have_attribute("data-state", "ready")
    send(page, "When is the picnic?")
    expect(page.locator("#attachments")).to_be_hidden()
    question = page.locator(".msg.user").last
    expect(question.locator("ul.attached")).to_contain_text("picnic.md")
    # Once stored, its kind and its link show without a reload.
    expect(question.locator("ul.attached")).to_contain_text("markdown")
    expect(question.locator("ul.attached a")).to_have_attribute("href", re.compile(r"^/files/"))
    answer = page.locator(".msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator(".sources")).to_contain_text("Picnic")
    # After a reload the message still shows its attachment, as a link to the file.
    page.reload()
    expect(page.locator(".msg.user").last.locator("ul.attached a")).to_have_attribute(
        "href", re.compile(r"^/files/"))
