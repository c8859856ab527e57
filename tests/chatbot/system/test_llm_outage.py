"""The LLM server dies and comes back: the user gets a clear error, the chatbot keeps serving,
and the next message after the server's return is answered."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from harness.processes import PROCESSES, chatbot, free_port, llmserver
from harness.socketclient import ChatClient

ENDLESS = "Continue this sequence without stopping: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"


def test_llm_server_killed_mid_answer_then_back(tmp_path: Path) -> None:
    port = free_port()
    llm_url = f"http://127.0.0.1:{port}"
    with ExitStack() as llm, chatbot(llm_url, tmp_path, LLM_CONNECT_TIMEOUT="2",
                                     LLM_READ_TIMEOUT="20") as chat_url:
        llm.enter_context(llmserver(port=port))
        with ChatClient(chat_url) as client:
            client.wait("settings", since=client.emit(
                "settings", {"temperature": 0, "max_tokens": 1000}))
            _, (_, event, _) = client.ask("Say hello.")
            assert event == "done"

            # Killed while streaming (SIGKILL: a crash, not a graceful shutdown that would
            # let the answer finish): the answer ends with an error, keeping what came.
            start = client.send(ENDLESS)
            client.wait("token", since=start)
            killed = time.monotonic()
            PROCESSES[llm_url].kill()
            error = client.wait("error", "done", since=start, timeout=60)
            took = time.monotonic() - killed
            llm.close()
            assert error[1] == "error", error
            assert "not reachable" in error[2]["message"]
            # The broken connection is the signal, not the 20 s read timeout (docs/reliability.md
            # records the time measured).
            print(f"error {took:.2f} s after the kill")
            assert took < 20

            # Down: a new message fails fast with a readable message, not a hang.
            start = client.send("Anyone there?")
            _, event, data = client.wait("error", "done", since=start, timeout=30)
            assert event == "error" and "not reachable" in data["message"]
            assert "Traceback" not in data["message"]
            assert httpx.get(f"{chat_url}/healthz?ready=1").json()["llm"]["reachable"] is False

            # Back on the same address: the next message is answered.
            with llmserver(port=port):
                answer, (_, event, _) = client.ask("What is the capital of France?")
                assert event == "done" and answer

            history = ChatClient(chat_url, cookie=client.cookie).connect()
            messages = history.wait("history")[2]["messages"]
            history.close()
    states = [m.get("state", "done") for m in messages if m["role"] == "assistant"]
    assert states == ["done", "error", "error", "done"]
    assert messages[3]["content"], "the partial answer before the crash is kept"
