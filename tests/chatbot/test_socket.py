"""The chatbot end to end: real llmserver and chatbot processes, python-socketio as the client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chatbot.client import ChatClient
from tests.servers import chatbot, llmserver

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


def wait_until(condition, timeout: float = 30, what: str = "condition") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        time.sleep(0.05)


def active_upstream(llm_url: str) -> int:
    return httpx.get(f"{llm_url}/health", timeout=5).json()["active"]


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
        assert active_upstream(llm_url) == 1
        shown = client.since(start, "token")
        client.emit("stop", {"shown": len(shown)})
        done = client.wait("done", "error", since=start, timeout=30)[2]
        assert done["stopped"] is True, done
        # 1000 tokens would take the server a minute or more; it stops within moments.
        wait_until(lambda: active_upstream(llm_url) == 0, timeout=15,
                   what="llmserver generation ended")
        history = ChatClient(chat_url, cookie=client.cookie).connect()
        last = history.wait("history")[2]["messages"][-1]
        history.close()
    # Kept: exactly what the user had seen when they pressed stop.
    assert last["state"] == "stopped"
    assert last["content"] == "".join(t["text"] for t in shown)
    # A `token` event may carry several tokens (CHAT_STREAM_INTERVAL_MS).
    assert done["usage"]["completion_tokens"] >= len(shown)


@pytest.mark.parametrize("interval_ms", [0, 1000])
def test_tokens_within_the_stream_interval_go_out_as_one_event(
        llm_url: str, tmp_path: Path, interval_ms: int) -> None:
    with chatbot(llm_url, tmp_path, CHAT_STREAM_INTERVAL_MS=str(interval_ms),
                 CHAT_TEMPERATURE="0", CHAT_MAX_TOKENS="24") as url, ChatClient(url) as client:
        start = client.send(ENDLESS)
        done = client.wait("done", "error", since=start)[2]
        pieces = [t["text"] for t in client.since(start, "token")]
        with ChatClient(url, cookie=client.cookie) as again:
            stored = again.wait("history")[2]["messages"][-1]
    assert done["usage"]["completion_tokens"] == 24, done
    assert stored["content"] == "".join(pieces) and stored.get("state", "done") == "done"
    if interval_ms == 0:
        assert len(pieces) == 24
    else:  # the first token at once, the rest at most once a second
        assert 2 <= len(pieces) <= 6, pieces


def two_at_once(url: str, max_tokens: int, during=None) -> list[str]:  # noqa: ANN001
    """Two clients ask at once; both must be answered. The statuses they were sent."""
    with ChatClient(url) as a, ChatClient(url) as b:
        for client in (a, b):
            client.wait("settings", since=client.emit("settings",
                                                      {"temperature": 0,
                                                       "max_tokens": max_tokens}))
        start_a = a.send(ENDLESS)
        start_b = b.send(ENDLESS)
        if during:
            during()
        done_a = a.wait("done", "error", since=start_a)[2]
        done_b = b.wait("done", "error", since=start_b)[2]
        states = [s["state"] for c, s0 in ((a, start_a), (b, start_b))
                  for s in c.since(s0, "status")]
        assert "usage" in done_a and "usage" in done_b
        assert a.since(start_a, "token") and b.since(start_b, "token")
    return states


def test_two_clients_at_once_are_generated_together(chat_url: str, llm_url: str) -> None:
    # The engine has slots for several answers at once (its /health says how many), and
    # the chatbot follows it: nobody waits in line.
    states = two_at_once(chat_url, 200, during=lambda: wait_until(
        lambda: active_upstream(llm_url) == 2, what="both answers generating upstream"))
    assert "queued" not in states


def test_with_one_slot_the_second_client_waits_its_turn(llm_url: str, tmp_path: Path) -> None:
    with chatbot(llm_url, tmp_path, LLM_CONCURRENCY="1") as url:
        states = two_at_once(url, 24)
    assert "queued" in states, "with one slot the second is told it waits"


@pytest.mark.parametrize("payload, expected", [
    ({}, "`text` must be a string"),
    ({"text": 42}, "`text` must be a string"),
    ({"text": ["a"]}, "`text` must be a string"),
    ({"text": "   "}, "Empty message"),
    ({"text": "x" * 1_000_000}, "Message too long"),
    ("just a string", "expected a JSON object"),
    ([1, 2], "expected a JSON object"),
])
def test_malformed_messages_get_an_error_and_the_connection_lives_on(
        chat_url: str, payload: object, expected: str) -> None:
    with ChatClient(chat_url) as client:
        start = client.emit("message", payload)
        error = client.wait("error", since=start, timeout=30)[2]
        assert expected in error["message"]
        start = client.send("/help")
        assert "/reset" in client.wait("notice", since=start)[2]["text"]


def test_unknown_conversation_ids_and_bad_settings_are_refused(chat_url: str) -> None:
    with ChatClient(chat_url) as client:
        for event, payload, expected in [
            ("switch", {"id": "not-mine"}, "no longer exists"),
            ("switch", {"id": 7}, "`id` must be a string"),
            ("rename", {"id": "x", "title": "t"}, "no longer exists"),
            ("settings", {"temperature": "hot"}, "Invalid settings"),
            ("settings", {"colour": "blue"}, "Invalid settings"),
        ]:
            start = client.emit(event, payload)
            assert expected in client.wait("error", since=start)[2]["message"]


def test_commands_reset_switch_rename_delete_and_export(chat_url: str) -> None:
    with ChatClient(chat_url) as client:
        client.ask("First conversation question")
        first_id = client.wait("history")[2]["conversation"]["id"]

        start = client.send("/reset")
        new = client.wait("history", since=start)[2]
        assert new["messages"] == [] and new["conversation"]["id"] != first_id
        start = client.emit("switch", {"id": first_id})
        back = client.wait("history", since=start)[2]
        assert back["messages"][0]["content"] == "First conversation question"

        start = client.emit("rename", {"id": first_id, "title": "Renamed chat"})
        listing = client.wait("conversations", since=start, where=lambda d: any(
            c["title"] == "Renamed chat" for c in d["conversations"]))[2]["conversations"]
        assert sorted(c["title"] for c in listing) == ["New chat", "Renamed chat"]

        cookies = {"Cookie": client.cookie}
        md = httpx.get(f"{chat_url}/conversations/{first_id}/export.md", headers=cookies)
        assert md.status_code == 200 and "# Renamed chat" in md.text
        assert "attachment" in md.headers["content-disposition"]
        exported = json.loads(httpx.get(f"{chat_url}/conversations/{first_id}/export.json",
                                        headers=cookies).text)
        assert exported["messages"][0]["content"] == "First conversation question"
        assert httpx.get(f"{chat_url}/conversations/{first_id}/export.md").status_code == 404

        start = client.emit("delete", {"id": first_id})
        after = client.wait("history", since=start)[2]
        assert after["conversation"]["id"] != first_id
        client.wait("conversations", since=start, where=lambda d: first_id not in {
            c["id"] for c in d["conversations"]})


def test_set_command_changes_what_is_sent_upstream(chat_url: str) -> None:
    with ChatClient(chat_url) as client:
        start = client.send("/set max_tokens 5")
        assert client.wait("settings", since=start)[2]["max_tokens"] == 5
        _, (_, _, done) = client.ask(ENDLESS)
        assert done["usage"]["completion_tokens"] <= 5
        assert done["finish_reason"] == "length"


def test_page_health_and_metrics(chat_url: str) -> None:
    page = httpx.get(chat_url)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert httpx.get(f"{chat_url}/healthz").json()["llm"]["reachable"] is True
    metrics = httpx.get(f"{chat_url}/metrics").text
    assert "chatbot_answers_total" in metrics and "chatbot_time_to_first_token_seconds" in metrics
    for name in ("socket.io.esm.min.js", "marked.esm.js", "purify.es.mjs", "highlight.min.js"):
        vendor = httpx.get(f"{chat_url}/vendor/{name}")
        assert vendor.status_code == 200 and "javascript" in vendor.headers["content-type"]
    assert httpx.get(f"{chat_url}/vendor/..%2Fpackage.json").status_code == 404


def test_a_socket_without_the_page_cookie_is_refused(chat_url: str) -> None:
    client = ChatClient(chat_url, cookie="localchat=forged")
    with pytest.raises(Exception, match="(?i)connect"):
        client.connect()
