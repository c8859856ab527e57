"""A conversation longer than the model's context: oldest turns dropped, the user told once,
and no request the server would reject for length."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.processes import chatbot, llmserver
from harness.socketclient import ChatClient

FACTS = ["The lighthouse keeper Ada polished the great lens every morning before dawn, "
         f"and on day {i} she counted {i * 7} ships passing the northern rocks." for i in range(6)]


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A 512-token window: a handful of turns overflow it.
    with llmserver(LLM_N_CTX="512") as llm_url, \
            chatbot(llm_url, tmp_path_factory.mktemp("ctx-data"), CHAT_MAX_TOKENS="24") as url:
        yield url


def test_old_turns_are_dropped_with_one_notice(chat_url: str) -> None:
    with ChatClient(chat_url) as client:
        start = client.mark()
        for fact in FACTS:
            _, (_, event, data) = client.ask(fact * 3)
            assert event == "done", data
        notices = [n for n in client.since(start, "notice") if n["level"] == "warning"]
    assert len(notices) == 1
    assert "no longer" in notices[0]["text"]
    with ChatClient(chat_url, cookie=client.cookie) as again:
        history = again.wait("history")[2]
    assert len(history["messages"]) == 2 * len(FACTS), "dropped turns stay visible"
    first_in_context = history["context_from"]
    assert first_in_context > history["messages"][0]["id"]


def test_a_message_longer_than_the_context_is_refused_readably(chat_url: str) -> None:
    with ChatClient(chat_url) as client:
        _, (_, event, data) = client.ask(" ".join(FACTS * 3))
    assert event == "error" and "too long for the model's context" in data["message"]


def test_the_answer_length_is_capped_to_what_the_window_leaves(chat_url: str) -> None:
    with ChatClient(chat_url) as client:
        client.wait("settings", since=client.emit("settings", {"max_tokens": 5000}))
        _, (_, event, data) = client.ask("Say hello.")
    assert event == "done", data
    assert data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"] <= 512
