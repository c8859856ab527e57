"""A proxy set for the machine's outbound traffic must not carry the chat app's requests to
an LLM server on the same machine (HTTP_PROXY is often set without NO_PROXY for loopback)."""

from __future__ import annotations

import json

import pytest

from chatbot.chat.llm import LLMClient
from chatbot.settings import Settings
from harness.documents import serve
from harness.processes import free_port

JSON = {"Content-Type": "application/json"}
ROUTES = {
    "/health": (200, JSON, json.dumps({"status": "ok", "slots": 3}).encode()),
    "/v1/models": (200, JSON, json.dumps(
        {"object": "list", "data": [{"id": "tiny", "object": "model", "owned_by": "me"}]}
    ).encode()),
}


def test_a_loopback_llm_server_is_reached_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    dead_proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with serve(ROUTES) as url:
        for root in (url, url.replace("127.0.0.1", "localhost")):
            client = LLMClient(Settings(llm_base_url=f"{root}/v1"))
            try:
                assert client.slots() == 3
                assert client.models() == ["tiny"]
            finally:
                client.close()
