"""Presets in a real browser (Debian's Chromium driven by Playwright) against a real chatbot
process: a preset made in the page, a conversation started from it (the chip in the top bar,
its system prompt in what the LLM server is sent), changed, started again from the empty
conversation's picker, and deleted while its conversations keep working. The canned LLM
server of the fast layer answers: these are the page's mechanics, not the model's."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from harness.browser import TIMEOUT, ask, require_chromium
from harness.fake_llm import FakeLLM

expect.set_options(timeout=TIMEOUT)
require_chromium()

TUTOR = "You are a patient Latin tutor. Answer in one sentence."
GREEK = "You are a patient Greek tutor."


def system_prompt_sent(fake: FakeLLM, question: str) -> str:
    first = fake.call(question).body["messages"][0]
    return first["content"] if first["role"] == "system" else ""


def test_a_preset_is_made_used_changed_and_deleted_in_the_page(
        page: Page, chat: tuple[str, FakeLLM]) -> None:
    fake = chat[1]
    dialog, chip = page.locator("#presets-dialog"), page.locator("#preset-chip")
    expect(chip).to_be_hidden()

    # Made from the settings dialog.
    page.click("#open-settings")
    page.click("#open-presets")
    expect(dialog).to_be_visible()
    page.click("#new-preset")
    form = page.locator("#preset-form")
    form.locator("[name=name]").fill("Latin tutor")
    form.locator("[name=system_prompt]").fill(TUTOR)
    form.locator("[name=temperature]").fill("0.2")
    page.click("#preset-save")
    expect(form).to_be_hidden()
    item = page.locator("#presets-list li[data-id]")
    expect(item).to_have_count(1)
    expect(item.locator(".preset-name")).to_have_text("Latin tutor")

    # A conversation started from it names it, and the model is sent its system prompt.
    item.locator("button.use-preset").click()
    expect(dialog).to_be_hidden()
    expect(chip).to_have_text("Latin tutor")
    ask(page, "How do I say hello?")
    assert system_prompt_sent(fake, "How do I say hello?") == TUTOR
    assert fake.call("How do I say hello?").body["temperature"] == 0.2

    # Changed: the conversation keeps the copy it started with.
    chip.click()
    expect(dialog).to_be_visible()
    item.locator("button.edit-preset").click()
    expect(form.locator("[name=system_prompt]")).to_have_value(TUTOR)
    form.locator("[name=name]").fill("Greek tutor")
    form.locator("[name=system_prompt]").fill(GREEK)
    page.click("#preset-save")
    expect(item.locator(".preset-name")).to_have_text("Greek tutor")
    page.locator("#presets-dialog button[value=close]").click()
    expect(chip).to_have_text("Latin tutor")
    ask(page, "And goodbye?")
    assert system_prompt_sent(fake, "And goodbye?") == TUTOR

    # A new chat offers the presets in its empty state.
    page.click("#new-chat")
    expect(page.locator("#empty")).to_be_visible()
    expect(chip).to_be_hidden()
    page.locator("#preset-picker").select_option(label="Greek tutor")
    page.click("#start-preset")
    expect(chip).to_have_text("Greek tutor")
    ask(page, "How do I say thank you?")
    assert system_prompt_sent(fake, "How do I say thank you?") == GREEK

    # Deleted: the conversations started from it still answer as before.
    chip.click()
    expect(dialog).to_be_visible()
    page.once("dialog", lambda confirm: confirm.accept())
    item.locator("button.delete-preset").click()
    expect(item).to_have_count(0)
    expect(page.locator("#presets-list li")).to_have_text("No presets yet: make one with "
                                                          "“New preset”.")
    page.locator("#presets-dialog button[value=close]").click()
    ask(page, "And please?")
    assert system_prompt_sent(fake, "And please?") == GREEK
    page.reload()
    expect(chip).to_have_text("Greek tutor")


def test_a_refused_preset_says_why_in_the_dialog(page: Page) -> None:
    page.click("#manage-presets")
    page.click("#new-preset")
    form = page.locator("#preset-form")
    form.locator("[name=name]").fill("Wordy")
    form.locator("[name=system_prompt]").fill("a " * 2100)  # over half the context
    page.click("#preset-save")
    expect(page.locator("#presets-status")).to_contain_text("too long for the model")
    expect(page.locator("#presets-status")).to_have_attribute("data-state", "failed")
    expect(form).to_be_visible()
    expect(page.locator("#presets-list li[data-id]")).to_have_count(0)

