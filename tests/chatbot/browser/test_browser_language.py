"""The page's language in Chromium: a browser that prefers French gets the French catalog
(templates and scripts alike); the settings dialog's Language switches it (the `lang` cookie)
and reloads, and "Automatic" goes back to the browser's choice. A browser left as it is
(Playwright's default locale, en-US) gets English, which the other browser tests rely on."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from chatbot.web import i18n
from harness.browser import TIMEOUT, require_chromium, send
from harness.fake_llm import FakeLLM, Reply

require_chromium()
expect.set_options(timeout=TIMEOUT)

FR = i18n.load("fr")
EN = i18n.load("en")


def open_page(browser: Browser, url: str, **options: object) -> Page:
    page = browser.new_context(**options).new_page()  # type: ignore[arg-type]
    page.set_default_timeout(TIMEOUT)
    page.goto(url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    return page


def choose_language(page: Page, code: str) -> None:
    page.click("#open-settings")
    page.select_option("#language", code)
    with page.expect_navigation():
        page.click("#settings-form button[value=save]")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")


def lang_cookie(page: Page) -> list[dict[str, object]]:
    return [c for c in page.context.cookies() if c["name"] == "lang"]  # type: ignore[misc]


def test_a_browser_left_as_it_is_gets_english(browser: Browser, chat: tuple[str, FakeLLM]
                                              ) -> None:
    url, _ = chat
    page = open_page(browser, url)
    assert page.evaluate("navigator.language") == "en-US"
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#connection")).to_have_text(EN["status.connected"])
    page.context.close()


def test_french_from_the_browser_then_english_from_the_settings(
        browser: Browser, chat: tuple[str, FakeLLM]) -> None:
    url, fake = chat
    fake.reply("Bonjour", Reply(["Salut", " !"]))
    page = open_page(browser, url, locale="fr-FR")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    # From the template, and from the scripts.
    expect(page.locator("#send")).to_have_text(FR["composer.send"])
    expect(page.locator("#prompt")).to_have_attribute("placeholder", FR["composer.placeholder"])
    expect(page.locator("#connection")).to_have_text(FR["status.connected"])
    expect(page.locator("#hint")).to_have_text(FR["composer.hint"])
    # A conversation without a title: the server calls it "New chat", the page translates.
    expect(page.locator("#title")).to_have_text(FR["chat.new_title"])
    expect(page.locator("#conversations .conv-title").first).to_have_text(FR["chat.new_title"])
    send(page, "Bonjour")
    answer = page.locator(".msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator("button.regenerate")).to_have_text(FR["chat.regenerate"])
    expect(answer.locator(".meta")).to_contain_text(FR["chat.meta.tokens.other"].replace(
        "{count} ", ""))
    # The user message's Edit label comes from the stylesheet, which takes it from the catalog.
    edit = page.locator(".msg.user button.edit").last
    expect(edit).to_have_attribute("data-label", FR["chat.edit"])
    assert edit.evaluate("e => getComputedStyle(e, '::before').content") == f'"{FR["chat.edit"]}"'
    # The shortcuts dialog, built by a script.
    page.locator("#messages").click()
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-title")).to_have_text(FR["shortcuts.title"])
    page.keyboard.press("Escape")

    # The switch shows the choice in force: none yet, so Automatic.
    page.click("#open-settings")
    expect(page.locator("#language")).to_have_value("")
    expect(page.locator("#language option[value=fr]")).to_have_text(FR["language.name"])
    page.click("#settings-form button[value=cancel]")

    choose_language(page, "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#send")).to_have_text(EN["composer.send"])
    expect(page.locator("#connection")).to_have_text(EN["status.connected"])
    # The conversation is still there, in the new language's frame.
    expect(page.locator(".msg.assistant button.regenerate").last).to_have_text(
        EN["chat.regenerate"])
    (cookie,) = lang_cookie(page)
    assert cookie["value"] == "en" and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    a_year_on = page.evaluate("Date.now() / 1000") + 300 * 24 * 3600
    assert float(cookie["expires"]) > a_year_on  # type: ignore[arg-type]
    page.click("#open-settings")
    expect(page.locator("#language")).to_have_value("en")
    page.click("#settings-form button[value=cancel]")

    # Automatic: the cookie goes, the browser's French comes back.
    choose_language(page, "")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("#send")).to_have_text(FR["composer.send"])
    assert lang_cookie(page) == []
    page.context.close()
