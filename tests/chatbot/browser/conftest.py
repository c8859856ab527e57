"""What the browser tests share: the page served by a real chatbot process answering from
a fake LLM (a module that needs another set-up defines its own `chat`), opened in a browser
context of its own per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from harness.browser import open_page
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
def context(browser: Browser, chat: tuple[str, FakeLLM]) -> Iterator[BrowserContext]:
    """A desktop-sized browser context of its own: its own cookie, so its own empty
    conversation; the clipboard allowed."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=chat[0])
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, chat: tuple[str, FakeLLM]) -> Iterator[Page]:
    """The page in `context`, once connected. The test fails if the page raised an error or
    logged one."""
    problems: list[str] = []
    yield open_page(context, chat[0], problems)
    assert problems == [], "the page raised or logged errors"
