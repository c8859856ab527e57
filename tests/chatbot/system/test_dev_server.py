"""`python -m chatbot` (Werkzeug's server, what `make run` starts): a closing tab leaves no
error in the terminal."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.processes import free_port, running
from harness.socketclient import ChatClient


def test_websocket_clients_come_and_go_without_errors_in_the_log(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "chatbot.log"
    env = {"CHATBOT_HOST": "127.0.0.1", "CHATBOT_PORT": str(port), "DATA_DIR": str(tmp_path),
           "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # no LLM needed
           "LOG_FORMAT": "text"}
    with running([sys.executable, "-m", "chatbot"], f"{base}/healthz", env, log):
        for _ in range(3):
            with ChatClient(base) as client:
                start = client.emit("rename", {"title": "x"})  # one round trip on the socket
                client.wait("error", "conversations", "history", since=start, timeout=30)
        # One more request on a fresh connection: the server is still answering.
        with ChatClient(base):
            pass
    text = log.read_text()
    assert "Bad request" not in text and "Bad HTTP" not in text, text[-2000:]
    assert " ERROR " not in text, text[-2000:]
