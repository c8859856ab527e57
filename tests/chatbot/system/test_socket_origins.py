"""Socket.IO from other sites: a real chatbot process on loopback accepts a WebSocket only from
its own origin and the ones CHATBOT_ALLOWED_ORIGINS lists (a page elsewhere could otherwise
use a visitor's cookie to read their conversations)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import socketio
import websocket

from harness.processes import chatbot, free_port
from harness.socketclient import page_cookie

ALLOWED = "https://chat.example.org"


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    nowhere = f"http://127.0.0.1:{free_port()}"  # no LLM: only connections are tried here
    with chatbot(nowhere, tmp_path_factory.mktemp("origins"),
                 CHATBOT_ALLOWED_ORIGINS=f"{ALLOWED}/") as url:
        yield url


def connects(url: str, origin: str, transport: str, **headers: str) -> bool:
    """Whether Engine.IO opens a session for a browser page at `origin`."""
    cookie = page_cookie(url)
    if transport == "polling":
        client = socketio.Client(reconnection=False)
        try:
            client.connect(url, headers={"Cookie": cookie, "Origin": origin, **headers},
                           transports=["polling"], wait_timeout=10)
        except socketio.exceptions.ConnectionError:
            return False
        client.disconnect()
        return True
    # A raw WebSocket: the Socket.IO client's own adds an Origin header of its own.
    try:
        ws = websocket.create_connection(
            url.replace("http:", "ws:") + "/socket.io/?EIO=4&transport=websocket",
            origin=origin, cookie=cookie, timeout=10,
            header=[f"{name}: {value}" for name, value in headers.items()])
    except websocket.WebSocketBadStatusException:
        return False
    try:
        return ws.recv().startswith("0{")  # Engine.IO's open packet
    finally:
        ws.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_only_the_pages_own_origin_and_listed_ones_connect(chat_url: str,
                                                           transport: str) -> None:
    assert connects(chat_url, chat_url, transport)
    assert connects(chat_url, ALLOWED, transport)  # listed with a trailing slash
    for foreign in ("https://evil.example", "null", chat_url.replace("127.0.0.1", "localhost"),
                    f"{ALLOWED}.evil.example", chat_url.replace("http:", "https:")):
        assert not connects(chat_url, foreign, transport), foreign


def test_behind_a_tls_proxy_the_https_page_connects_only_through_a_trusted_proxy(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    # The chatbot is reached over plain HTTP from the proxy, the page is https://…; the
    # proxy's X-Forwarded-Proto says so, believed only from AUTH_TRUSTED_PROXIES.
    nowhere = f"http://127.0.0.1:{free_port()}"
    data = tmp_path_factory.mktemp("tls-proxy")
    with chatbot(nowhere, data, AUTH_TRUSTED_PROXIES="127.0.0.1") as url:
        https_page = url.replace("http:", "https:")
        for transport in ("websocket", "polling"):
            assert connects(url, https_page, transport, **{"X-Forwarded-Proto": "https"})
            assert not connects(url, https_page, transport)
    with chatbot(nowhere, data, AUTH_TRUSTED_PROXIES="10.0.0.0/8") as url:
        https_page = url.replace("http:", "https:")
        for transport in ("websocket", "polling"):
            assert not connects(url, https_page, transport, **{"X-Forwarded-Proto": "https"})


def test_one_address_over_its_socket_limit_is_told_why(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    with chatbot(nowhere, tmp_path_factory.mktemp("tabs"), MAX_SOCKETS_PER_ADDRESS="2") as url:
        tabs = [socketio.Client(reconnection=False) for _ in range(3)]
        for tab in tabs[:2]:
            tab.connect(url, headers={"Cookie": page_cookie(url)}, transports=["websocket"],
                        wait_timeout=10)
        refusals: list[object] = []
        tabs[2].on("connect_error", refusals.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            tabs[2].connect(url, headers={"Cookie": page_cookie(url)},
                            transports=["websocket"], wait_timeout=10)
        assert refusals and "Too many open tabs from your address (at most 2)" in str(refusals[0])
        tabs[0].disconnect()
        deadline = time.monotonic() + 10
        while True:  # the server counts the closed tab out once its disconnect is handled
            try:
                tabs[2].connect(url, headers={"Cookie": page_cookie(url)},
                                transports=["websocket"], wait_timeout=10)
                break
            except socketio.exceptions.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        for tab in tabs[1:]:
            tab.disconnect()
