"""What the browser tests share: the page served by a real chatbot process answering from
a fake LLM (a module that needs another set-up defines its own `chat`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
