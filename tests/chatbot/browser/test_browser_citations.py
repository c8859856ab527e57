"""Grounded answers checked sentence by sentence, in Debian's Chromium: [n] markers link to
their sources (an invented number, and code, stay text), uncited sources fold under "Also
searched", a citation opens the side panel with the supporting sentence marked, a PDF source
shows its page drawn by PDF.js with the passage marked, "What the model saw" and the note for
an uncovered question.

Answers are put in place through the product's own import (so the test does not depend on
a model's wording), and one is asked for real, grounded in an uploaded PDF, with the canned
LLM server answering. `seen` and `not_covered` ride on the `history` event: until the import
keeps them, this test adds them to the messages it imported on the way to the page (the
Socket.IO frames, through Playwright), as the server sends them for an answer it wrote."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from harness.browser import ARTIFACTS, TIMEOUT, require_chromium, send
from harness.documents import make_pdf
from harness.fake_llm import FakeLLM, Reply
from harness.grounded import KETTLE, NOT_COVERED, SEEN, SOURCES, UNCOVERED, import_conversation
from harness.processes import chatbot
from harness.socketclient import ChatClient
from harness.uploads import finished, rag_data_dir, upload

expect.set_options(timeout=TIMEOUT)
require_chromium()

BATTERY = "The Gizmotron's battery lasts nine hours on one charge."
PAGES = ["Contents. This guide describes the Gizmotron: its battery on page 2 and its case "
         "on page 3.",
         f"The battery. {BATTERY} It charges over USB-C in about two hours, and a full "
         "charge survives a year in a drawer.",
         "The case. The Gizmotron's case is made of recycled aluminium and weighs 120 grams."]
PDF = make_pdf(PAGES, title="Gizmotron guide")
ANSWER = (f"> {KETTLE} [1]\n\nIt is quick [1], and its lid locks [2]. A recall is said in "
          "[9]. In code, `items[1]` stays code:\n\n```python\nfirst = items[1]\n```\n")


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeLLM]]:
    with FakeLLM() as fake, chatbot(fake.url, rag_data_dir(tmp_path_factory, "citations"),
                                    CHAT_STREAM_INTERVAL_MS="0") as url:
        yield url, fake


@pytest.fixture(scope="module")
def guide(chat: tuple[str, FakeLLM]) -> str:
    """The 3-page PDF uploaded into collection `gadgets`; its URL, as sources link it."""
    with ChatClient(chat[0]) as client:
        done = finished(client, upload(client, [("gizmotron guide.pdf", PDF)], "gadgets"))
        assert done["state"] == "done", done
        start = client.emit("documents", {"collection": "gadgets"})
        listing = client.wait("documents", since=start)[2]
    url = listing["documents"][0]["url"]
    assert url.startswith("/files/"), listing
    return url


def add_to_history(page: Page, extra: dict[str, dict[str, Any]]) -> None:
    """`history` messages whose content is a key of `extra` get its fields, those the
    server did not send itself."""
    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def to_page(frame: str | bytes) -> None:
            if isinstance(frame, str) and frame.startswith('42["history"'):
                event = json.loads(frame[2:])
                for message in event[1]["messages"]:
                    for key, value in extra.get(message["content"], {}).items():
                        message.setdefault(key, value)
                frame = "42" + json.dumps(event)
            ws.send(frame)

        server.on_message(to_page)

    page.route_web_socket(re.compile(r"/socket\.io/"), route)


@pytest.fixture
def page(browser: Browser, chat: tuple[str, FakeLLM]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text)
            if "Content Security Policy" in m.text else None)
    add_to_history(page, {ANSWER: {"seen": SEEN}, UNCOVERED: {"not_covered": NOT_COVERED}})
    page.goto(chat[0])
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    yield page
    context.close()
    assert problems == [], "the page raised errors or broke its own CSP"


def squashed(text: str) -> str:
    return "".join(text.split())


def test_a_citation_opens_the_passage_with_the_supporting_sentence_marked(page: Page) -> None:
    import_conversation(page, "Kettle", [
        {"role": "user", "content": "How fast is the kettle?"},
        {"role": "assistant", "content": ANSWER, "sources": SOURCES, "seen": SEEN}])
    answer = page.locator("#messages .msg.assistant").last
    cites = answer.locator(".body a.cite")
    # The quoted sentence's [1], "quick [1]" and "locks [2]"; not [9] (no such source), not
    # the [1] of the code span or of the code block.
    expect(cites).to_have_count(3)
    assert [c.get_attribute("data-n") for c in cites.all()] == ["1", "1", "2"]
    expect(answer.locator(".body blockquote a.cite")).to_have_attribute("data-n", "1")
    expect(answer.locator(".body")).to_contain_text("A recall is said in [9].")
    expect(answer.locator(".body code a, .body pre a")).to_have_count(0)
    expect(answer.locator(".body p code").first).to_have_text("items[1]")

    panel = page.locator("#source-panel")
    expect(panel).to_be_hidden()
    cites.nth(1).click()
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("role", "dialog")
    expect(page.locator("#source-panel-title")).to_have_text("[1] Kettle manual")
    expect(panel.locator(".heading-path")).to_have_text("Kettle manual › Boiling")
    expect(panel.locator(".passage mark")).to_have_text(KETTLE)
    expect(panel.locator(".passage")).to_have_text(SOURCES[0]["passage"])
    expect(panel.locator(".neighbour").first).to_have_text("Chapter 2: filling.")
    expect(panel.locator(".neighbour").last).to_have_text("Chapter 4: descaling.")
    original = page.locator("#source-original")
    expect(original).to_have_attribute("href", "https://example.org/kettle")
    expect(original).to_have_attribute("target", "_blank")
    expect(original).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    expect(page.locator("#pdf-viewer")).to_be_hidden()
    assert page.evaluate("document.getElementById('source-panel').contains("
                         "document.activeElement)")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "citation-panel.png"))
    # Esc closes it and gives the focus back to the citation.
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(cites.nth(1)).to_be_focused()

    # From the keyboard: a citation is a link, Enter opens it; the close button closes.
    cites.nth(2).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#source-panel-title")).to_have_text("[2] Lid notes")
    expect(panel.locator(".passage mark")).to_have_text("The lid locks with a click.")
    page.click("#source-panel-close")
    expect(panel).to_be_hidden()

    # A reload shows the same from `history`.
    page.reload()
    expect(page.locator("#messages .msg.assistant .body a.cite")).to_have_count(3)


def test_uncited_sources_are_folded_under_also_searched(page: Page) -> None:
    import_conversation(page, "Kettle sources", [
        {"role": "user", "content": "How fast is the kettle?"},
        {"role": "assistant", "content": ANSWER, "sources": SOURCES}])
    sources = page.locator("#messages .msg.assistant .sources")
    expect(sources.locator("ol.cited > li")).to_have_text([
        re.compile(r"^Kettle manual\b"), re.compile(r"^Lid notes\b")])
    more = sources.locator("details.also-searched")
    expect(more.locator("summary")).to_have_text("Also searched (1)")
    expect(more).not_to_have_attribute("open", "")
    expect(more.locator("li")).to_have_text(["Toaster manual Toaster"])
    more.locator("summary").click()
    more.locator("a.source").click()
    expect(page.locator("#source-panel-title")).to_have_text("[3] Toaster manual")
    expect(page.locator("#source-panel .passage")).to_have_text("The toaster has four slots.")
    expect(page.locator("#source-panel .passage mark")).to_have_count(0)
    # A source in the list opens the panel too, the list keeping its link to the original.
    first = sources.locator("ol.cited a.source").first
    expect(first).to_have_attribute("href", "https://example.org/kettle")
    first.click()
    expect(page.locator("#source-panel-title")).to_have_text("[1] Kettle manual")


def test_a_pdf_source_opens_at_its_page_with_the_passage_marked(page: Page,
                                                                guide: str) -> None:
    source = {"n": 1, "title": "Gizmotron guide", "url": f"{guide}#page=2", "page": 2,
              "score": 0.8, "cited": True, "heading": "The battery", "passage": PAGES[1],
              "before": "", "after": "", "highlights": [BATTERY]}
    import_conversation(page, "Battery", [
        {"role": "user", "content": "How long does the battery last?"},
        {"role": "assistant", "content": "Nine hours on one charge [1].",
         "sources": [source]}])
    page.locator("#messages .msg.assistant a.cite").click()
    viewer = page.locator("#pdf-viewer")
    expect(viewer).to_be_visible()
    expect(page.locator("#pdf-page-label")).to_have_text("Page 2 of 3")
    expect(page.locator("#pdf-page")).to_have_attribute("data-highlighted", "true")
    marked = squashed("".join(page.locator("#pdf-text mark").all_text_contents()))
    assert marked == squashed(BATTERY)
    # The text layer holds page 2's text, drawn on a canvas under it.
    assert "USB-C" in page.locator("#pdf-text").text_content()
    assert page.evaluate("document.getElementById('pdf-canvas').width") > 100
    expect(page.locator("#source-original")).to_have_text("Open the PDF at page 2 in a new tab")
    page.screenshot(path=str(ARTIFACTS / "citation-pdf.png"))
    # The other pages can be turned to; back on page 2 the passage is marked again.
    page.click("#pdf-next")
    expect(page.locator("#pdf-page-label")).to_have_text("Page 3 of 3")
    expect(page.locator("#pdf-text")).to_contain_text("aluminium")
    page.click("#pdf-previous")
    expect(page.locator("#pdf-page-label")).to_have_text("Page 2 of 3")
    expect(page.locator("#pdf-text mark").first).to_be_attached()


def test_what_the_model_saw_and_an_uncovered_question(page: Page) -> None:
    import_conversation(page, "Kettle and toaster", [
        {"role": "user", "content": "How fast is the kettle?"},
        {"role": "assistant", "content": ANSWER, "sources": SOURCES, "seen": SEEN},
        {"role": "user", "content": "How much is the toaster?"},
        {"role": "assistant", "content": UNCOVERED, "not_covered": NOT_COVERED,
         "sources": SOURCES[2:]}])
    first, second = page.locator("#messages .msg.assistant").all()
    seen = first.locator("details.seen")
    expect(seen.locator("summary")).to_have_text("What the model saw")
    seen.locator("summary").click()
    counts = seen.locator(".seen-counts")
    for text in ("System prompt", "41 tokens", "Passages from your documents", "212 tokens",
                 "Your question", "9 tokens", "Room left for the answer", "1,500 tokens"):
        expect(counts).to_contain_text(text)
    expect(seen.locator(".left-out a")).to_have_text("Descaling guide")
    expect(seen.locator(".seen-times")).to_have_text(
        "Queued 0.4 s · searching the documents 0.3 s · reading the prompt 1.5 s")

    note = second.locator(".not-covered")
    expect(note).to_contain_text(UNCOVERED)
    expect(note).to_contain_text("Searched “kitchen” for “price of a toaster”.")
    closest = note.locator("a")
    expect(closest).to_have_text("Toaster manual")
    expect(closest).to_have_attribute("href", "https://example.org/toaster")
    expect(second.locator(".sources")).to_have_count(0)
    expect(second.locator("a.cite")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "citation-seen.png"))


def test_older_and_odd_sources(page: Page) -> None:
    """Sources stored before citations were checkable (title, url, page, score) are listed
    as links to the originals and numbered 1..N; fields of the wrong kind, or a link that
    is not a web page or one of our files, never become markup or links."""
    import_conversation(page, "Older answer", [
        {"role": "user", "content": "Where is it?"},
        {"role": "assistant", "content": "In both [1] [2] and [3].", "sources": [
            {"title": "Old page", "url": "https://example.org/old", "score": 0.4},
            {"title": "<img src=x onerror=alert(1)>", "url": "javascript:alert(1)",
             "score": 0.3, "highlights": "not a list", "passage": 7}]}])
    answer = page.locator("#messages .msg.assistant")
    links = answer.locator(".sources a")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://example.org/old")
    expect(links).to_have_attribute("target", "_blank")
    expect(answer.locator(".sources li").last).to_have_text("<img src=x onerror=alert(1)>")
    expect(answer.locator(".also-searched")).to_have_count(0)
    expect(answer.locator("a.cite")).to_have_count(2)
    answer.locator("a.cite[data-n='2']").click()
    expect(page.locator("#source-panel-title")).to_have_text("[2] <img src=x onerror=alert(1)>")
    expect(page.locator("#source-missing")).to_be_visible()
    expect(page.locator("#source-original")).to_be_hidden()
    assert not page.locator("a[href^='javascript:']").count()


def test_citations_link_as_a_grounded_answer_streams(page: Page, chat: tuple[str, FakeLLM],
                                                      guide: str) -> None:
    """A real grounded answer: the question searches the uploaded PDF, and the canned server
    answers the prompt the chatbot built (learnt from a first answer, then regenerated)."""
    url, fake = chat
    send(page, "/rag on gadgets")
    expect(page.locator("#open-documents")).to_have_attribute("data-on", "true")
    send(page, "How long does the Gizmotron battery last?")
    answer = page.locator("#messages .msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    prompt = fake.calls[-1].body["messages"][-1]["content"]
    reply = fake.reply(prompt, Reply(["It lasts nine hours [1]", " on one charge.",
                                      " Not [9]."], pauses=(1,)))
    answer.locator(".regenerate").click()
    streaming = page.locator("#messages .msg.assistant[data-state=streaming]")
    # Its sources come with `done`: until then the marker is only styled.
    expect(streaming.locator(".cite-pending")).to_have_text("[1]")
    expect(streaming.locator("a.cite")).to_have_count(0)
    reply.proceed()
    answer = page.locator("#messages .msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator(".body a.cite")).to_have_count(1)
    expect(answer.locator(".body")).to_contain_text("Not [9].")
    expect(answer.locator(".sources a").first).to_contain_text("Gizmotron guide")
    answer.locator(".body a.cite").click()
    expect(page.locator("#source-panel-title")).to_contain_text("[1] Gizmotron guide")
    expect(page.locator("#pdf-viewer")).to_be_visible()
    expect(page.locator("#pdf-page-label")).to_have_text(re.compile(r"^Page \d of 3$"))
    assert Path(guide).name in (page.locator("#source-original").get_attribute("href") or "")
