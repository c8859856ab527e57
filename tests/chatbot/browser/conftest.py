"""What the browser tests share: the page served by a real chatbot process answering from
a fake LLM (a module that needs another set-up defines its own `chat`), opened in a browser
context of its own per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from harness.browser import TIMEOUT
from harness.fake_llm import FakeLLM
from harness.processes import chatbot


@pytest.fixture(scope="module")
def chat(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[str, FakeLLM]]:
    """A chatbot process per test module, its tokens relayed one by one."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    with FakeLLM() as fake, chatbot(fake.url, tmp_path_factory.mktemp(name),
                                    CHAT_STREAM_INTERVAL_MS="0") as url:
        yield url, fake


@pytest.fixture
def page(browser: Browser, chat: tuple[str, FakeLLM]) -> Iterator[Page]:
    """The page in a desktop-sized context of its own (its own cookie, so its own empty
    conversation; the clipboard allowed), once connected. The test fails if the page raised
    an error or logged one."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=chat[0])
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(chat[0])
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    yield page
    context.close()
    assert problems == [], "the page raised or logged errors"
