"""The keyboard in a real browser (Debian's Chromium driven by Playwright) against a real
chatbot process and the canned LLM server: each shortcut does its action, `?` and Ctrl+/
open the list of shortcuts (Esc closes it and the focus goes back), `?` typed in the message
box is text, and Tab reaches Send with a visible focus ring."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from harness.browser import TIMEOUT, ask, require_chromium
from harness.fake_llm import FakeLLM, Reply

expect.set_options(timeout=TIMEOUT)
require_chromium()

# Playwright presses Cmd for it on a Mac, as the page expects there.
MOD = "ControlOrMeta"


def test_each_shortcut_does_its_action(page: Page, chat: tuple[str, FakeLLM]) -> None:
    ask(page, "Say hello")
    answer = page.locator("#messages .msg.assistant")

    page.keyboard.press(f"{MOD}+Shift+C")
    expect(page.locator("#hint")).to_have_text("Copied the last answer (Markdown).")
    assert page.evaluate("navigator.clipboard.readText()") == "You said: Say hello"

    chat[1].reply("Say hello", Reply(["Hello", " again"]))
    page.keyboard.press(f"{MOD}+Shift+Enter")
    expect(answer.locator(".body")).to_have_text("Hello again")
    expect(answer).to_have_count(1)
    expect(answer).to_have_attribute("data-state", "done")

    page.keyboard.press(f"{MOD}+K")
    expect(page.locator("#search")).to_be_focused()

    sidebar = page.locator("#sidebar")
    page.keyboard.press(f"{MOD}+Shift+S")
    expect(sidebar).to_be_hidden()
    expect(page.locator("#prompt")).to_be_focused()  # the focus left the hidden search box
    page.keyboard.press(f"{MOD}+Shift+S")
    expect(sidebar).to_be_visible()

    conversations = page.locator("#conversations li")
    expect(conversations).to_have_count(1)
    page.keyboard.press(f"{MOD}+Shift+O")
    expect(page.locator("#messages > *")).to_have_count(0)
    expect(conversations).to_have_count(2)
    expect(page.locator("#prompt")).to_be_focused()


def test_the_list_of_shortcuts_opens_closes_and_gives_the_focus_back(page: Page) -> None:
    prompt = page.locator("#prompt")
    dialog = page.locator("#shortcuts-dialog")
    # In the message box `?` is text.
    prompt.press("?")
    expect(prompt).to_have_value("?")
    expect(dialog).to_be_hidden()

    settings = page.locator("#open-settings")
    settings.focus()
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    expect(dialog.locator("tr")).to_contain_text(["New chat", "Search conversations"])
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(settings).to_be_focused()

    prompt.focus()
    page.keyboard.press(f"{MOD}+/")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(prompt).to_be_focused()
    expect(prompt).to_have_value("?")


def test_tab_from_the_message_box_reaches_send_with_a_visible_outline(page: Page) -> None:
    page.locator("#prompt").focus()
    page.keyboard.press("Tab")
    button = page.locator("#send")
    expect(button).to_be_focused()
    assert button.evaluate("el => getComputedStyle(el).outlineStyle") != "none"
