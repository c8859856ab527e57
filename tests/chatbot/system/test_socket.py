"""The chatbot end to end: real llmserver and chatbot processes, python-socketio as the client.

What needs the real model or real processes (streaming from llama.cpp, the engine's own slots,
stopping its generation, a restart) is here; the chat's rules against a canned stream (queue,
stop, coalescing, upstream failures, payload validation, conversations) are in the fast
test_chat_fast.py and test_events_fast.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.processes import chatbot, generating_upstream, llmserver, wait_until
from harness.socketclient import ChatClient

# A prompt the default base model keeps continuing at temperature 0 until max_tokens.
ENDLESS = "Continue this sequence without stopping: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    with llmserver(LLM_N_CTX="2048") as url:
        yield url


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chat-data")


@pytest.fixture(scope="module")
def chat_url(llm_url: str, data_dir: Path) -> Iterator[str]:
    with chatbot(llm_url, data_dir) as url:
        yield url




def test_a_message_streams_tokens_then_done(chat_url: str) -> None:
    with ChatClient(chat_url) as client:
        start = client.send("What is the capital of France?")
        _, _, done = client.wait("done", "error", since=start)
        client.wait("status", since=start, where=lambda s: s["state"] == "idle")
        tokens = client.since(start, "token")
        states = [s["state"] for s in client.since(start, "status")]
    assert "error" not in done, done
    assert len(tokens) >= 3 and all(isinstance(t["text"], str) for t in tokens)
    assert states[0] == "generating" and states[-1] == "idle"
    assert done["usage"]["completion_tokens"] >= len(tokens) - 1
    assert done["usage"]["prompt_tokens"] > 0
    assert done["tokens_per_s"] > 0 and done["sources"] == [] and not done["stopped"]


def test_history_comes_back_on_reconnect_and_in_a_second_tab(chat_url: str) -> None:
    with ChatClient(chat_url) as first:
        answer, (_, _, done) = first.ask("Name a primary colour.")
        assert "usage" in done
    for _ in range(2):  # a reload, then another tab with the same cookie
        with ChatClient(chat_url, cookie=first.cookie) as again:
            history = again.wait("history")[2]
            roles = [(m["role"], m["content"]) for m in history["messages"]]
            assert roles == [("user", "Name a primary colour."), ("assistant", answer)]
            assert history["conversation"]["title"] == "Name a primary colour."


def test_conversations_survive_a_chatbot_restart(llm_url: str, tmp_path: Path) -> None:
    with chatbot(llm_url, tmp_path) as url, ChatClient(url) as client:
        answer, _ = client.ask("Say hello.")
        cookie = client.cookie
    with chatbot(llm_url, tmp_path) as url, ChatClient(url, cookie=cookie) as client:
        messages = client.wait("history")[2]["messages"]
    assert [m["content"] for m in messages] == ["Say hello.", answer]


def test_stop_ends_the_answer_and_the_upstream_generation(chat_url: str, llm_url: str) -> None:
    with ChatClient(chat_url) as client:
        client.wait("settings", since=client.emit("settings",
                                                  {"temperature": 0, "max_tokens": 1000}))
        start = client.send(ENDLESS)
        client.wait("token", since=start)
        client.wait("token", since=client.mark())
        shown = client.since(start, "token")
        client.emit("stop", {"shown": len(shown)})
        done = client.wait("done", "error", since=start, timeout=30)[2]
        assert done["stopped"] is True, done
        # 1000 tokens would take the server a minute or more; it stops within moments.
        wait_until(lambda: generating_upstream(llm_url) == 0, timeout=15,
                   what="llmserver generation ended")
        history = ChatClient(chat_url, cookie=client.cookie).connect()
        last = history.wait("history")[2]["messages"][-1]
        history.close()
    # Kept: exactly what the user had seen when they pressed stop.
    assert last["state"] == "stopped"
    assert last["content"] == "".join(t["text"] for t in shown)
    # A `token` event may carry several tokens (CHAT_STREAM_INTERVAL_MS).
    assert done["usage"]["completion_tokens"] >= len(shown)


def test_two_clients_at_once_are_generated_together(chat_url: str, llm_url: str) -> None:
    # The engine has slots for several answers at once (its /health says how many), and
    # the chatbot follows it: nobody waits in line.
    with ChatClient(chat_url) as a, ChatClient(chat_url) as b:
        for client in (a, b):
            client.wait("settings", since=client.emit("settings",
                                                      {"temperature": 0, "max_tokens": 80}))
        start_a = a.send(ENDLESS)
        start_b = b.send(ENDLESS)
        wait_until(lambda: generating_upstream(llm_url) == 2,
                   what="both answers generating upstream")
        done_a = a.wait("done", "error", since=start_a)[2]
        done_b = b.wait("done", "error", since=start_b)[2]
        states = [s["state"] for c, s0 in ((a, start_a), (b, start_b))
                  for s in c.since(s0, "status")]
        assert "usage" in done_a and "usage" in done_b
        assert a.since(start_a, "token") and b.since(start_b, "token")
    assert "queued" not in states


def test_set_command_changes_what_is_sent_upstream(chat_url: str) -> None:
    with ChatClient(chat_url) as client:
        start = client.send("/set max_tokens 5")
        assert client.wait("settings", since=start)[2]["max_tokens"] == 5
        _, (_, _, done) = client.ask(ENDLESS)
        assert done["usage"]["completion_tokens"] <= 5
        assert done["finish_reason"] == "length"


def test_health_sees_the_real_llm_server(chat_url: str) -> None:
    assert httpx.get(f"{chat_url}/healthz?ready=1").json()["llm"]["reachable"] is True


def test_a_socket_without_the_page_cookie_is_refused(chat_url: str) -> None:
    client = ChatClient(chat_url, cookie="localchat=forged")
    with pytest.raises(Exception, match="(?i)connect"):
        client.connect()
