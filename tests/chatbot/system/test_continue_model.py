"""Continue with the real default model (a base model, without a chat template): an answer
cut at the length limit goes on from its last word, through llmserver's completions
endpoint, in the same message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.processes import chatbot, llmserver
from harness.socketclient import ChatClient


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with llmserver() as llm_url, \
            chatbot(llm_url, tmp_path_factory.mktemp("continue-data"),
                    CHAT_MAX_TOKENS="4") as url:
        yield url


def test_a_cut_answer_continues_from_its_last_word(chat_url: str) -> None:
    with ChatClient(chat_url) as client:
        _, (_, event, done) = client.ask("Tell me a long story about a dragon who lived "
                                         "in a castle by the sea.")
        assert event == "done", done
        assert done["finish_reason"] == "length", done
        history = client.wait("history", since=client.emit("switch", {"id": client.wait(
            "history")[2]["conversation"]["id"]}))[2]
        cut = history["messages"][-1]
        start = client.emit("continue", {"id": cut["id"]})
        _, event, again = client.wait("done", "error", since=start)
        assert event == "done", again
        added = "".join(t["text"] for t in client.since(start, "token"))
        final = client.wait("history", since=start,
                            where=lambda d: "streaming" not in d and d["messages"])[2]
    assert again["id"] == cut["id"] and added.strip()
    assert final["messages"][-1]["id"] == cut["id"]
    assert final["messages"][-1]["content"] == cut["content"] + added
