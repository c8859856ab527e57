"""Sharing a conversation in a real browser (Debian's Chromium driven by Playwright) against a
real chatbot process answering from the canned LLM server: Share… gives a link; another
person's browser opens it and sees the conversation as it was (Markdown rendered, hostile
HTML inert, later messages absent, no script error under the page's CSP); Revoke makes the
link answer 404."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from harness.browser import TIMEOUT, require_chromium, send
from harness.fake_llm import FakeLLM, Reply

expect.set_options(timeout=TIMEOUT)
require_chromium()

QUESTION = "Describe the otter <img src=x onerror=\"window.hacked=1\">"
ANSWER = ["Otters are **playful**", " and `clever`.\n\n",
          "<script>window.hacked = 2</script><img src=x onerror=\"window.hacked=3\"> ",
          "[link](javascript:window.hacked=4)\n\n", "```python\nprint('otter')\n```\n"]


def open_page(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and "404" not in m.text else None)
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.goto(url)
    page.problems = problems  # type: ignore[attr-defined]
    return page


@pytest.fixture
def contexts(browser: Browser) -> Iterator[tuple[BrowserContext, BrowserContext]]:
    """The owner's browser and another person's."""
    mine = browser.new_context(viewport={"width": 1280, "height": 800})
    theirs = browser.new_context(viewport={"width": 1280, "height": 800})
    mine.grant_permissions(["clipboard-read", "clipboard-write"])
    yield mine, theirs
    mine.close()
    theirs.close()


def test_share_open_elsewhere_and_revoke(contexts: tuple[BrowserContext, BrowserContext],
                                         chat: tuple[str, FakeLLM]) -> None:
    url, fake = chat
    fake.reply(QUESTION, Reply(ANSWER))
    page = open_page(contexts[0], url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    send(page, QUESTION)
    expect(page.locator("#messages .msg.assistant").last).to_have_attribute("data-state", "done")
    row = page.locator("#conversations li.active")
    row.locator(".conv-actions summary").click()
    row.locator("button.share").click()
    dialog = page.locator("#shares-dialog")
    expect(dialog).to_be_visible()
    link = page.locator("#share-link")
    expect(link).not_to_have_value("")
    shared = link.input_value()
    assert shared.startswith(f"{url.rstrip('/')}/shared/")
    expect(dialog.locator("#shares-list li")).to_have_count(1)
    page.click("#share-copy")
    expect(page.locator("#share-copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == shared
    dialog.locator("button[value=close]").click()

    # A later message does not reach the link.
    send(page, "A later question")
    expect(page.locator("#messages .msg.assistant")).to_have_count(2)
    expect(page.locator("#messages .msg.assistant").last).to_have_attribute("data-state", "done")

    other = open_page(contexts[1], shared)
    expect(other.locator("#title")).to_contain_text("Describe the otter")
    expect(other.locator("#messages .msg.user .bubble")).to_have_text(QUESTION)
    body = other.locator("#messages .msg.assistant .body")
    expect(body.locator("strong")).to_have_text("playful")
    expect(body.locator("pre code")).to_contain_text("print('otter')")
    expect(body).to_contain_text("<script>window.hacked = 2</script>")
    assert body.locator("script, img").count() == 0
    assert other.locator("#messages img").count() == 0
    assert other.evaluate("window.hacked") is None
    assert body.locator("a[href^='javascript']").count() == 0
    expect(other.locator("#messages .msg")).to_have_count(2)
    expect(other.locator("#messages")).not_to_contain_text("A later question")

    # Revoked: the list empties and the link is gone for everyone.
    page.click("#open-shares")
    expect(dialog).to_be_visible()
    item = dialog.locator("#shares-list li")
    expect(item).to_have_count(1)
    item.locator("button.revoke").click()
    expect(item).to_have_count(0)
    expect(dialog.locator("#shares-empty")).to_be_visible()
    assert other.reload().status == 404  # type: ignore[union-attr]
    assert page.problems == [] and other.problems == []  # type: ignore[attr-defined]
