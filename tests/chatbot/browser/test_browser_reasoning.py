"""A reasoning model's thoughts in a real browser (Debian's Chromium) against a real chatbot
process: the canned LLM server streams them (as `reasoning_content`, or as a `<think>` block
split across chunks), and the page shows them open while the model thinks, then folded as
"Thought for N s" above an answer that holds none of them, rendered as sanitized Markdown."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from harness.browser import TIMEOUT, require_chromium, send
from harness.fake_llm import FakeLLM, Reply

expect.set_options(timeout=TIMEOUT)
require_chromium()

THOUGHTS = ["The user asks **a sum**.", " <img src=x onerror=\"window.hacked=1\">",
            " Two and two make four."]


def test_the_thoughts_stream_open_then_fold_above_the_answer(
        page: Page, chat: tuple[str, FakeLLM]) -> None:
    reply = chat[1].reply("What is 2 + 2?", Reply(["It is", " **4**."], reasoning=THOUGHTS,
                                                  pauses=(0,)))
    send(page, "What is 2 + 2?")
    answer = page.locator("#messages .msg.assistant").last
    thoughts = answer.locator("details.reasoning")

    # While the model thinks: open, saying so, its Markdown rendered, its HTML inert.
    expect(thoughts).to_have_attribute("data-state", "thinking")
    expect(thoughts).to_have_attribute("open", "")
    expect(thoughts.locator("summary")).to_have_text("Thinking…")
    expect(thoughts.locator(".reasoning-body")).to_contain_text("Two and two make four.")
    expect(thoughts.locator(".reasoning-body strong")).to_have_text("a sum")
    expect(answer).to_have_attribute("data-state", "streaming")

    reply.proceed()
    expect(answer).to_have_attribute("data-state", "done")
    expect(thoughts).to_have_attribute("data-state", "done")
    expect(thoughts).not_to_have_attribute("open", "")
    expect(thoughts.locator("summary")).to_have_text(re.compile(r"^Thought for \d+(\.\d)? s$"))
    expect(thoughts.locator(".reasoning-body")).to_be_hidden()
    expect(answer.locator(".body")).to_have_text("It is 4.")
    expect(answer.locator(".body strong")).to_have_text("4")

    thoughts.locator("summary").click()
    expect(thoughts.locator(".reasoning-body")).to_be_visible()
    expect(thoughts.locator(".reasoning-body")).to_contain_text("The user asks a sum.")
    assert page.evaluate("window.hacked") is None
    assert thoughts.locator("img[onerror]").count() == 0

    # Stored with the answer: a reload shows it folded again, the answer apart.
    page.reload()
    again = page.locator("#messages .msg.assistant").last
    expect(again.locator("details.reasoning summary")).to_have_text(
        re.compile(r"^Thought for "))
    expect(again.locator("details.reasoning")).not_to_have_attribute("open", "")
    expect(again.locator(".body")).to_have_text("It is 4.")


def test_a_think_block_in_the_text_shows_as_thoughts_not_answer(
        page: Page, chat: tuple[str, FakeLLM]) -> None:
    chat[1].reply("Think first", Reply(["<thi", "nk>Pondering", " deeply</th", "ink>\n\n",
                                        "Decided."]))
    send(page, "Think first")
    answer = page.locator("#messages .msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator(".body")).to_have_text("Decided.")
    thoughts = answer.locator("details.reasoning")
    expect(thoughts.locator("summary")).to_have_text(re.compile(r"^Thought for "))
    thoughts.locator("summary").click()
    expect(thoughts.locator(".reasoning-body")).to_have_text("Pondering deeply")
