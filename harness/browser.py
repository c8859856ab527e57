"""Debian's Chromium driven by Playwright, for the page's end-to-end tests: where it is, how
to launch it here, how long to wait for the model, where screenshots go, and typing a message
as a user does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from harness.processes import ROOT

CHROMIUM = "/usr/bin/chromium"
# Without the networking flags Chromium keeps calling home, which this machine refuses.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT = 90_000  # ms; generation shares 2 cores with the browser


def require_chromium() -> None:
    """Skip the calling test module when Chromium is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: `make test` installs it (apt-get install chromium)",
                    allow_module_level=True)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, launched headless with the flags above."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(context: BrowserContext, url: str, problems: list[str]) -> Page:
    """A new page of `context` at `url`, once connected; what it raises or logs as an error
    is added to `problems`, but for a 400: the server refusing a request a test made wrong on
    purpose (the page says why, which the test checks)."""
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and "status of 400" not in m.text else None)
    page.goto(url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    return page


def send(page: Page, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def new_chat(page: Page) -> None:
    """Show an empty conversation, once the server has shown it: its `history` would wipe a
    question typed before it arrives. An empty one shown already is kept (as New chat
    would)."""
    shown = page.locator("#messages .msg")
    if shown.count() == 0:
        return
    page.click("#new-chat")
    expect(shown).to_have_count(0)


def ask(page: Page, text: str) -> None:
    """Send `text` and wait for its answer to be done."""
    answers = page.locator("#messages .msg.assistant")
    count = answers.count()
    send(page, text)
    expect(answers).to_have_count(count + 1)
    expect(answers.last).to_have_attribute("data-state", "done")
