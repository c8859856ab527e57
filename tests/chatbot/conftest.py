"""Fixtures of the fast layer: a canned LLM server (fake_llm.py), and the chat app in-process
(inprocess.py) in a fresh data folder per test; and one Chromium per browser test module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from harness.browser import chromium
from harness.fake_llm import FakeLLM
from harness.inprocess import ChatApp


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def make_chat(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[Callable[..., ChatApp]]:
    """Builds chat apps with settings overridden by field name (`llm_concurrency=1`);
    `llm_url` points one elsewhere (a closed port), `data_dir` reopens another's data."""
    apps: list[ChatApp] = []

    def make(llm_url: str | None = None, data_dir: Path | None = None,
             **settings: Any) -> ChatApp:
        app = ChatApp(data_dir or tmp_path / f"data{len(apps)}", llm_url or fake_llm.url,
                      **settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


@pytest.fixture
def chat(make_chat: Callable[..., ChatApp]) -> ChatApp:
    return make_chat()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, for a browser test module (which calls require_chromium())."""
    with chromium() as browser:
        yield browser
