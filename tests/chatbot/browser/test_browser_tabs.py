"""A page over MAX_SOCKETS_PER_ADDRESS (Chromium): it says why it is not connected instead of
promising a retry, and a reload once a tab is closed connects it."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from harness.browser import TIMEOUT, require_chromium
from harness.processes import chatbot, free_port

require_chromium()
expect.set_options(timeout=TIMEOUT)


def test_a_tab_over_the_address_limit_says_why(browser: Browser, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # no LLM: only connections matter here
    with chatbot(nowhere, tmp_path, MAX_SOCKETS_PER_ADDRESS="1") as url:
        context = browser.new_context()
        first, second = context.new_page(), context.new_page()
        first.goto(url)
        expect(first.locator("#connection")).to_have_text("Connected")
        second.goto(url)
        status = second.locator("#connection")
        expect(status).to_contain_text("Too many open tabs from your address (at most 1)")
        expect(status).to_have_attribute("data-state", "offline")
        expect(second.locator("#send")).to_be_disabled()
        first.close()
        second.reload()
        expect(status).to_have_text("Connected")
        context.close()
