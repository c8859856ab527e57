"""Connections that never become a chat, against the production server (gunicorn, gthread):
raw Engine.IO WebSockets and long-polling sessions that never send Socket.IO's CONNECT
(`40`) are counted per address from their first request, refused past the cap, and closed
after SOCKET_HANDSHAKE_TIMEOUT, while an honest client from another address chats on.

The attacker's address is made distinct through X-Forwarded-For from a trusted proxy
(127.0.0.1 here): every process of the test is on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import websocket

from harness.fake_llm import FakeLLM
from harness.processes import chatbot_instances
from harness.socketclient import ChatClient

CAP = 6
GRACE = 5  # chatbot.sockets.connections.GRACE: let in past the cap only to be told why
HANDSHAKE_S = 3
ATTACKER = "203.0.113.7"
# Generous: the deadline is checked once a second, and the machine is shared.
CLOSED_WITHIN_S = HANDSHAKE_S + 15


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with FakeLLM() as llm, chatbot_instances(
            llm.url, tmp_path_factory.mktemp("hostile"), 1,
            MAX_SOCKETS_PER_ADDRESS=str(CAP), SOCKET_HANDSHAKE_TIMEOUT=str(HANDSHAKE_S),
            AUTH_TRUSTED_PROXIES="127.0.0.1") as (url,):
        yield url


def raw_websocket(url: str) -> websocket.WebSocket | None:
    """An Engine.IO WebSocket without Origin or cookie that says nothing; None if refused."""
    try:
        ws = websocket.create_connection(
            url.replace("http:", "ws:") + "/socket.io/?EIO=4&transport=websocket",
            timeout=10, suppress_origin=True, header=[f"X-Forwarded-For: {ATTACKER}"])
    except websocket.WebSocketBadStatusException as exc:
        assert exc.status_code == 401
        return None
    assert ws.recv().startswith("0{")  # Engine.IO's open packet
    return ws


def held_until_closed(ws: websocket.WebSocket, ended: dict[int, float]) -> None:
    """Answer pings and never send `40`, until the server closes the connection."""
    try:
        while True:
            message = ws.recv()
            if message == "2":
                ws.send("3")
            elif message == "":
                break
    except (websocket.WebSocketException, OSError):
        pass
    ended[id(ws)] = time.monotonic()


def test_raw_websockets_without_a_handshake_are_capped_then_closed(chat_url: str) -> None:
    started = time.monotonic()
    opened = [ws for ws in (raw_websocket(chat_url) for _ in range(40)) if ws is not None]
    assert len(opened) == CAP + GRACE  # the other 29 were refused at once (401)
    ended: dict[int, float] = {}
    threads = [threading.Thread(target=held_until_closed, args=(ws, ended), daemon=True)
               for ws in opened]
    for thread in threads:
        thread.start()

    # Meanwhile an honest client (another address) connects and chats.
    with ChatClient(chat_url) as honest:
        text, end = honest.ask("hello there", timeout=60)
        assert end[1] == "done" and text

    for thread in threads:
        thread.join(CLOSED_WITHIN_S)
    assert len(ended) == len(opened), "connections without a handshake were left open"
    assert max(ended.values()) - started < CLOSED_WITHIN_S + 10
    # Their places are free again: the count went down as the server closed them.
    again = raw_websocket(chat_url)
    assert again is not None
    again.close()
    metrics = httpx.get(f"{chat_url}/metrics", timeout=10).text
    assert "chatbot_handshake_timeouts_total" in metrics


def test_long_polling_sessions_without_a_handshake_are_capped_then_closed(
        chat_url: str) -> None:
    headers = {"X-Forwarded-For": ATTACKER}
    opened: list[str] = []
    refused = 0
    with httpx.Client(base_url=chat_url, timeout=10, headers=headers) as http:
        for _ in range(30):
            response = http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
            if response.status_code == 401:
                refused += 1
                continue
            assert response.status_code == 200 and response.text.startswith("0{")
            opened.append(response.text.split('"sid":"', 1)[1].split('"', 1)[0])
        assert len(opened) == CAP + GRACE and refused == 30 - len(opened)
        # A poll of each session returns (closed) within the deadline, and the session is
        # then gone: its next poll is refused.
        deadline = time.monotonic() + CLOSED_WITHIN_S
        while time.monotonic() < deadline:
            gone = [sid for sid in opened if http.get("/socket.io/", params={
                "EIO": "4", "transport": "polling", "sid": sid}).status_code == 400]
            if len(gone) == len(opened):
                break
            time.sleep(0.5)
        else:
            pytest.fail("long-polling sessions without a handshake were left open")
        fresh = http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert fresh.status_code == 200

