"""Regenerate, edit and resend, copy, search and import in a real browser (Debian's Chromium
driven by Playwright) against a real chatbot process; the canned LLM server of the fast layer
answers, since these are the page's mechanics, not the model's."""

from __future__ import annotations

import json
import re

from playwright.sync_api import BrowserContext, Page, expect

from harness.browser import TIMEOUT, ask, new_chat, open_page, require_chromium
from harness.fake_llm import FakeLLM, Reply

expect.set_options(timeout=TIMEOUT)
require_chromium()

MARKDOWN = ["Here is **bold** text", " and code:\n\n", "```python\nprint('hi')\n```\n"]


def texts(page: Page, kind: str) -> list[str]:
    part = "bubble" if kind == "user" else "body"
    return [t.strip() for t in page.locator(f"#messages .msg.{kind} .{part}").all_inner_texts()]


def test_regenerate_replaces_the_last_answer(page: Page, chat: tuple[str, FakeLLM]) -> None:
    ask(page, "Name a colour")
    ask(page, "Name a fruit")
    answers = page.locator("#messages .msg.assistant")
    # Only the newest answer offers it.
    expect(answers.first.locator(".regenerate")).to_be_hidden()
    chat[1].reply("Name a fruit", Reply(["A", " pear"]))
    answers.last.locator(".regenerate").click()
    expect(answers.last.locator(".body")).to_have_text("A pear")
    expect(answers.last).to_have_attribute("data-state", "done")
    assert texts(page, "assistant") == ["You said: Name a colour", "A pear"]
    page.reload()
    expect(answers).to_have_count(2)
    expect(answers.last.locator(".body")).to_have_text("A pear")
    assert texts(page, "user") == ["Name a colour", "Name a fruit"]
    assert texts(page, "assistant") == ["You said: Name a colour", "A pear"]


def test_edit_and_resend_replaces_the_later_turns_in_every_tab(
        page: Page, context: BrowserContext, chat: tuple[str, FakeLLM]) -> None:
    for text in ("First try", "Second", "Third"):
        ask(page, text)
    problems: list[str] = []
    other = open_page(context, chat[0], problems)
    expect(other.locator("#messages .msg.user")).to_have_count(3)

    first = page.locator("#messages .msg.user").first
    first.locator(".edit").click()
    editor = first.locator(".editor textarea")
    expect(editor).to_have_value("First try")
    editor.fill("First, edited")
    first.locator(".editor .save").click()

    for tab in (page, other):
        # The page hook: a user message's text is what the user wrote, nothing more.
        expect(tab.locator("#messages .msg.user")).to_have_text(["First, edited"])
        answer = tab.locator("#messages .msg.assistant")
        expect(answer).to_have_count(1)
        expect(answer.locator(".body")).to_have_text("You said: First, edited")
        expect(answer).to_have_attribute("data-state", "done")
    # The new question was stored: it can be edited again, without a reload.
    expect(first).to_have_attribute("data-id", re.compile(r"^\d+$"))
    page.reload()
    expect(page.locator("#messages .msg.assistant")).to_have_count(1)
    assert texts(page, "user") == ["First, edited"]
    assert problems == []


def test_copy_an_answer_as_markdown_and_a_code_block(
        page: Page, chat: tuple[str, FakeLLM]) -> None:
    chat[1].reply("Show code", Reply(MARKDOWN))
    ask(page, "Show code")
    answer = page.locator("#messages .msg.assistant").last
    answer.locator("button.copy-answer").click()
    expect(answer.locator("button.copy-answer")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "".join(MARKDOWN)
    answer.locator("pre button.copy").click()
    expect(answer.locator("pre button.copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "print('hi')"
    expect(answer.locator("button.copy-answer")).to_have_text("Copy")


def test_search_finds_a_message_in_another_conversation(page: Page) -> None:
    ask(page, "Tell me about the quokka of Rottnest")
    ask(page, "Something else")
    new_chat(page)
    ask(page, "Unrelated question")

    page.fill("#search", "quok")
    results = page.locator("#search-results .result")
    expect(results.first).to_be_visible()
    expect(page.locator("#conversations")).to_be_hidden()
    message_hit = results.filter(has=page.locator(".snippet mark")).last
    expect(message_hit.locator("mark").first).to_have_text("quokka")
    message_id = message_hit.get_attribute("data-message")
    assert message_id is not None
    message_hit.click()
    expect(page.locator("#title")).to_have_text("Tell me about the quokka of Rottnest")
    found = page.locator(f'#messages .msg[data-id="{message_id}"]')
    expect(found).to_have_class(re.compile(r"\bfound\b"))
    expect(found).to_be_in_viewport()

    page.fill("#search", '"*NEAR(')
    expect(page.locator("#search-results .none")).to_have_text("No matches")
    page.fill("#search", "")
    expect(page.locator("#conversations")).to_be_visible()


def test_import_an_exported_conversation(page: Page, chat: tuple[str, FakeLLM]) -> None:
    ask(page, "Export me")
    conversation = page.locator("#conversations li.active").get_attribute("data-id")
    exported = page.request.get(f"{chat[0]}/conversations/{conversation}/export.json").json()
    exported["title"] = "Imported copy"

    page.set_input_files("#import-file", files=[{
        "name": "chat.json", "mimeType": "application/json",
        "buffer": json.dumps(exported).encode()}])
    expect(page.locator("#sidebar-status")).to_have_text("Imported “Imported copy”.")
    expect(page.locator("#title")).to_have_text("Imported copy")
    expect(page.locator("#conversations li.active .conv-title")).to_have_text("Imported copy")
    assert texts(page, "user") == ["Export me"]
    assert texts(page, "assistant") == ["You said: Export me"]

    page.set_input_files("#import-file", files=[{
        "name": "notes.json", "mimeType": "application/json", "buffer": b"{\"title\": 1}"}])
    expect(page.locator("#sidebar-status")).to_contain_text("not an exported conversation")
