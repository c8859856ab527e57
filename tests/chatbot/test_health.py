"""`/healthz` (liveness: this process alone) and `/healthz?ready=1` (readiness: the LLM server
and Chroma answer), against real servers on loopback: the fake LLM, a stand-in that is still
loading, closed ports, and a real `chroma run`."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.inprocess import ChatApp
from harness.processes import free_port, running

CHROMA = Path(sys.executable).parent / "chroma"


def closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}"


def ready(chat: ChatApp) -> tuple[int, dict[str, Any]]:
    response = chat.app.test_client().get("/healthz?ready=1")
    return response.status_code, response.json


def test_liveness_answers_without_asking_anyone(make_chat: Callable[..., ChatApp]) -> None:
    response = make_chat(llm_url=closed_port()).app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"


def test_ready_when_the_llm_server_and_chroma_answer(chat: ChatApp) -> None:
    status, body = ready(chat)
    assert status == 200
    assert body == {"status": "ok", "llm": {"reachable": True},
                    "chroma": {"reachable": True}}


def test_readiness_details_are_for_admins_and_the_log(make_chat: Callable[..., ChatApp],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    # Anyone may ask /healthz?ready=1 (accounts on too): internal URLs and error text are
    # shown to admins only, and logged.
    llm_url = closed_port()
    chat = make_chat(llm_url=llm_url, auth=True)
    accounts = chat.app.extensions["chatbot"].accounts
    accounts.add("root", "a long password", admin=True)
    accounts.add("bob", "a long password")
    anonymous = chat.app.test_client().get("/healthz?ready=1")
    assert anonymous.status_code == 503
    assert anonymous.json["llm"] == {"reachable": False, "reason": "unreachable"}
    assert llm_url not in anonymous.text and "Connect" not in anonymous.text
    assert llm_url in caplog.text  # the operator still learns why
    user = chat.signed_in("bob", "a long password").get("/healthz?ready=1")
    assert llm_url not in user.text
    admin = chat.signed_in("root", "a long password").get("/healthz?ready=1")
    assert admin.json["llm"]["url"] == llm_url and "Connect" in admin.json["llm"]["error"]
    assert admin.json["chroma"] == {"reachable": True, "mode": "embedded"}


def test_not_ready_while_the_llm_server_is_down(make_chat: Callable[..., ChatApp]) -> None:
    status, body = ready(make_chat(llm_url=closed_port()))
    assert status == 503
    assert body["status"] == "unavailable" and body["unavailable"] == ["llm"]
    assert body["llm"] == {"reachable": False, "reason": "unreachable"}
    assert body["chroma"]["reachable"] is True


class _Loading(BaseHTTPRequestHandler):
    """llmserver while its model loads: /health is 503 {"status": "loading"}."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        data = json.dumps({"status": "loading"}).encode()
        self.send_response(503)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def loading_llm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Loading)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_not_ready_while_the_model_loads(make_chat: Callable[..., ChatApp],
                                         loading_llm: str) -> None:
    status, body = ready(make_chat(llm_url=loading_llm))
    assert status == 503 and body["unavailable"] == ["llm"]
    assert body["llm"] == {"reachable": False, "reason": "loading"}


def test_not_ready_when_the_chroma_server_is_down(make_chat: Callable[..., ChatApp],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMA_URL", closed_port())
    status, body = ready(make_chat())
    assert status == 503 and body["unavailable"] == ["chroma"]
    assert body["chroma"] == {"reachable": False, "reason": "unreachable"}
    assert os.environ["CHROMA_URL"] not in json.dumps(body)
    assert body["llm"]["reachable"] is True


@pytest.mark.slow
def test_readiness_follows_a_real_chroma_server(make_chat: Callable[..., ChatApp],
                                                monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    url = closed_port()
    monkeypatch.setenv("CHROMA_URL", url)
    chat = make_chat()
    command = [str(CHROMA), "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1",
               "--port", url.rsplit(":", 1)[1]]
    with running(command, f"{url}/api/v2/heartbeat", log=Path(os.devnull), timeout=60):
        status, body = ready(chat)
        assert status == 200, body
        assert body["chroma"] == {"reachable": True}
    status, body = ready(chat)
    assert status == 503 and body["unavailable"] == ["chroma"]
