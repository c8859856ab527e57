"""Versions of a turn in a real browser (Debian's Chromium driven by Playwright) against a real
chatbot process answering from the canned LLM server: ‹ 1 / 2 › after regenerating, an edit
that keeps the old branch, a new conversation from a message, Continue after Stop, and a
search result in a version not shown."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from harness.browser import TIMEOUT, ask, require_chromium, send
from harness.fake_llm import FakeLLM, Reply

expect.set_options(timeout=TIMEOUT)
require_chromium()


def bodies(page: Page, kind: str) -> list[str]:
    part = "bubble" if kind == "user" else "body"
    return [t.strip() for t in page.locator(f"#messages .msg.{kind} .{part}").all_inner_texts()]


def test_regenerate_then_switch_between_the_two_answers(
        page: Page, chat: tuple[str, FakeLLM]) -> None:
    ask(page, "Name a tree")
    chat[1].reply("Name a tree", Reply(["An", " oak"]))
    answer = page.locator("#messages .msg.assistant").last
    answer.locator(".regenerate").click()
    label = page.locator("#messages .msg.assistant .version-label")
    expect(label).to_have_attribute("data-label", "2 / 2")
    expect(page.locator("#messages .msg.assistant .body")).to_have_text(["An oak"])

    page.locator("#messages .msg.assistant .previous-version").click()
    expect(label).to_have_attribute("data-label", "1 / 2")
    expect(page.locator("#messages .msg.assistant .body")).to_have_text(["You said: Name a tree"])
    expect(page.locator("#messages .msg.assistant .previous-version")).to_be_disabled()
    # The version chosen is stored: a reload shows it.
    page.reload()
    expect(label).to_have_attribute("data-label", "1 / 2")
    page.locator("#messages .msg.assistant .next-version").click()
    expect(label).to_have_attribute("data-label", "2 / 2")
    expect(page.locator("#messages .msg.assistant .body")).to_have_text(["An oak"])
    assert bodies(page, "user") == ["Name a tree"]


def test_an_edit_is_a_branch_and_the_old_one_keeps_its_turns(page: Page) -> None:
    ask(page, "Plan a trip")
    ask(page, "To the sea")
    first = page.locator("#messages .msg.user").first
    first.locator(".edit").click()
    first.locator(".editor textarea").fill("Plan a hike")
    first.locator(".editor .save").click()

    users = page.locator("#messages .msg.user .bubble")
    expect(users).to_have_text(["Plan a hike"])
    expect(page.locator("#messages .msg.assistant .body")).to_have_text(["You said: Plan a hike"])
    label = page.locator("#messages .msg.user .version-label")
    expect(label).to_have_attribute("data-label", "2 / 2")
    page.locator("#messages .msg.user .previous-version").click()
    expect(users).to_have_text(["Plan a trip", "To the sea"])
    expect(label).to_have_attribute("data-label", "1 / 2")
    # A question now follows the version shown.
    ask(page, "By train")
    expect(users).to_have_text(["Plan a trip", "To the sea", "By train"])


def test_continue_in_a_new_conversation_from_a_message(page: Page) -> None:
    ask(page, "Start of a story")
    ask(page, "Another turn")
    titles = page.locator("#conversations li")
    before = titles.count()
    page.locator("#messages .msg.assistant").first.locator(".branch").click()
    expect(page.locator("#messages .msg.user .bubble")).to_have_text(["Start of a story"])
    expect(page.locator("#messages .msg.assistant .body")).to_have_text(
        ["You said: Start of a story"])
    expect(titles).to_have_count(before + 1)
    ask(page, "A new ending")
    expect(page.locator("#messages .msg.user .bubble")).to_have_text(
        ["Start of a story", "A new ending"])
    # The new conversation is the current one: a reload opens it.
    page.reload()
    expect(page.locator("#messages .msg.user .bubble")).to_have_text(
        ["Start of a story", "A new ending"])


def test_continue_a_stopped_answer(page: Page, chat: tuple[str, FakeLLM]) -> None:
    reply = chat[1].reply("Count slowly", Reply(["one", " two", " three"], pauses=(2,)))
    send(page, "Count slowly")
    answer = page.locator("#messages .msg.assistant").last
    expect(answer.locator(".body")).to_have_text("one two")
    page.click("#stop")
    expect(answer).to_have_attribute("data-stopped", "true")
    expect(answer).to_have_attribute("data-id", re.compile(r"^\d+$"))
    reply.proceed()
    expect(answer.locator(".continue")).to_be_visible()

    chat[1].reply("one two", Reply([" three", " four"]))
    answer.locator(".continue").click()
    expect(page.locator("#messages .msg.assistant .body")).to_have_text(["one two three four"])
    last = page.locator("#messages .msg.assistant").last
    expect(last).to_have_attribute("data-state", "done")
    expect(last.locator(".continue")).to_be_hidden()
    page.reload()
    expect(page.locator("#messages .msg.assistant .body")).to_have_text(["one two three four"])


def test_a_search_result_in_a_version_not_shown_shows_that_version(
        page: Page, chat: tuple[str, FakeLLM]) -> None:
    ask(page, "Tell me about walruses")
    chat[1].reply("Tell me about walruses", Reply(["Seals", " instead"]))
    page.locator("#messages .msg.assistant .regenerate").click()
    previous = page.locator("#messages .msg.assistant .previous-version")
    expect(previous).to_have_attribute("data-version", re.compile(r"^\d+$"))
    old = previous.get_attribute("data-version")
    page.fill("#search", "walruses")
    page.locator(f'#search-results .result[data-message="{old}"]').click()
    expect(page.locator("#messages .msg.found")).to_have_attribute("data-id", str(old))
    expect(page.locator("#messages .msg.assistant .body")).to_have_text(
        ["You said: Tell me about walruses"])
