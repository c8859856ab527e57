"""The page's theme (light, dark or the system's, kept per browser), its web app manifest and
icons, and its layout on a phone-sized screen, in Chromium against the canned LLM server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from harness.browser import ARTIFACTS, TIMEOUT, require_chromium, send
from harness.fake_llm import FakeLLM, Reply
from harness.processes import chatbot

require_chromium()
expect.set_options(timeout=TIMEOUT)

# What makes a narrow screen overflow: a long code line, a long unbroken word and URL, a table.
WIDE = ["Here:\n\n```python\nprint('" + "x" * 120 + "')\n```\n\n",
        "A_very_long_identifier_" * 6 + " https://example.org/" + "path/" * 20 + "\n\n",
        "| name | value | unit | note |\n|---|---|---|---|\n",
        "| temperature | 0.7 | none | how adventurous the answers are |\n"]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with FakeLLM() as fake, chatbot(fake.url, tmp_path_factory.mktemp("theme"),
                                    CHAT_STREAM_INTERVAL_MS="0") as url:
        fake.reply("Something wide", Reply(WIDE))
        yield url


def open_page(browser: Browser, url: str, **options: object) -> Page:
    page = browser.new_context(**options).new_page()  # type: ignore[arg-type]
    page.set_default_timeout(TIMEOUT)
    page.goto(url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    return page


def choose_theme(page: Page, theme: str, shown: str) -> None:
    page.click("#open-settings")
    expect(page.locator("#theme")).to_have_value(shown)  # the stored choice
    page.select_option("#theme", theme)
    page.click("#settings-form button[value=save]")
    expect(page.locator("html")).to_have_attribute("data-theme", theme)


def body_colour(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_the_chosen_theme_applies_and_survives_a_reload(browser: Browser, url: str) -> None:
    # The system is light: "system" (the default) is light, "dark" overrides it.
    page = open_page(browser, url, color_scheme="light")
    expect(page.locator("html")).to_have_attribute("data-theme", "system")
    system = body_colour(page)
    choose_theme(page, "dark", shown="system")
    dark = body_colour(page)
    assert dark != system
    hljs = page.locator("link[data-scheme=dark]")
    expect(hljs).to_have_attribute("media", "all")
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    body = page.locator("body")
    expect(body).to_have_css("background-color", dark)
    choose_theme(page, "light", shown="dark")
    expect(body).to_have_css("background-color", system)
    page.context.close()


def test_the_manifest_makes_the_page_installable(browser: Browser, url: str) -> None:
    page = open_page(browser, url)
    href = page.locator("link[rel=manifest]").get_attribute("href")
    assert href
    expect(page.locator("meta[name=theme-color]").first).to_have_attribute("content", "#ffffff")
    response = page.request.get(page.url.rstrip("/") + href)
    assert response.status == 200
    assert response.headers["content-type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["name"] and manifest["start_url"] and manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512", "any"} <= sizes
    for icon in manifest["icons"]:
        answer = page.request.get(page.url.rstrip("/") + icon["src"])
        assert answer.status == 200 and answer.headers["content-type"].startswith("image/")
    page.context.close()


def test_a_phone_sized_screen_does_not_overflow(browser: Browser, url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = open_page(browser, url, viewport={"width": 360, "height": 740})
    width = "document.documentElement.scrollWidth"
    assert page.evaluate(width) <= 360
    send(page, "Something wide")
    answer = page.locator("#messages .msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator("table")).to_be_visible()
    assert page.evaluate(width) <= 360
    # The composer and its buttons are inside the screen.
    for selector in ("#composer", "#send", "#open-settings", "#open-documents"):
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, selector
    page.screenshot(path=str(ARTIFACTS / "phone-answer.png"))
    # The sidebar opens over the page and closes again.
    page.click("#open-sidebar")
    expect(page.locator("#sidebar")).to_be_in_viewport()
    page.click("#close-sidebar")
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    assert page.evaluate(width) <= 360
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(page.locator("#sidebar")).to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / "desktop-answer.png"))
    page.context.close()
