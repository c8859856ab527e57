"""DNS rebinding, against the production server (gunicorn): a page on `rebind.example` whose
name now points at this machine is same-origin to the browser, but its requests carry
`Host: rebind.example:PORT`. Every such request is refused (421): the page, the API,
Socket.IO over both transports; the hosts allowed by default and by CHATBOT_ALLOWED_HOSTS
work as before."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import websocket

from harness.processes import chatbot_instances, free_port
from harness.socketclient import ChatClient, page_cookie

LISTED = "chat.example.org"


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    nowhere = f"http://127.0.0.1:{free_port()}"  # no LLM: only requests are tried here
    with chatbot_instances(nowhere, tmp_path_factory.mktemp("hosts"), 1,
                           CHATBOT_ALLOWED_HOSTS=LISTED) as (url,):
        yield url


def websocket_opens(url: str, host: str, origin: str) -> bool:
    try:
        ws = websocket.create_connection(
            url.replace("http:", "ws:") + "/socket.io/?EIO=4&transport=websocket",
            host=host, origin=origin, cookie=page_cookie(url), timeout=10)
    except websocket.WebSocketBadStatusException as exc:
        assert exc.status_code == 421
        return False
    try:
        return ws.recv().startswith("0{")
    finally:
        ws.close()


def test_a_rebound_host_is_refused_everywhere(chat_url: str) -> None:
    port = chat_url.rsplit(":", 1)[1]
    rebound = f"rebind.example:{port}"
    evil = {"Host": rebound, "Origin": f"http://{rebound}"}
    with httpx.Client(base_url=chat_url, timeout=10) as http:
        page = http.get("/", headers=evil)
        assert page.status_code == 421
        assert "CHATBOT_ALLOWED_HOSTS" in page.text and page.headers["content-type"].startswith(
            "text/plain")
        assert "localchat" not in http.cookies  # nothing ran: no session was made
        assert http.get("/healthz", headers=evil).status_code == 421
        assert http.get("/metrics", headers=evil).status_code == 421
        imported = http.post("/conversations/import", headers=evil,
                             json={"messages": [{"role": "user", "content": "hi"}]})
        assert imported.status_code == 421
        polling = http.get("/socket.io/", headers=evil,
                           params={"EIO": "4", "transport": "polling"})
        assert polling.status_code == 421
    assert not websocket_opens(chat_url, rebound, f"http://{rebound}")
    assert httpx.get(f"{chat_url}/", headers={"Host": f"0.0.0.0:{port}"},
                     timeout=10).status_code == 421
    # A trailing dot or another case is the same name, still refused.
    assert httpx.get(f"{chat_url}/", headers={"Host": f"REBIND.example.:{port}"},
                     timeout=10).status_code == 421


def test_the_allowed_hosts_work(chat_url: str) -> None:
    port = chat_url.rsplit(":", 1)[1]
    # Addresses typed as such name nothing an attacker could re-point: allowed (a LAN user
    # reaching the machine by its address); 0.0.0.0 is no address to reach.
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", LISTED, f"{LISTED}:443",
                 f"192.168.1.5:{port}", f"[fe80::1]:{port}"):
        assert httpx.get(f"{chat_url}/", headers={"Host": host},
                         timeout=10).status_code == 200, host
    assert websocket_opens(chat_url, f"localhost:{port}", f"http://localhost:{port}")
    assert websocket_opens(chat_url, LISTED, f"http://{LISTED}")
    with ChatClient(chat_url) as client:  # the page's own client, as before
        assert client.wait("history")
    # The origin check of a POST is made against the allowed hosts: a page served from an
    # allowed host may import, another site's page may not.
    cookie = page_cookie(chat_url)
    body = {"messages": [{"role": "user", "content": "hi"}]}
    ok = httpx.post(f"{chat_url}/conversations/import", json=body, timeout=10,
                    headers={"Cookie": cookie, "Origin": chat_url})
    assert ok.status_code == 201
    foreign = httpx.post(f"{chat_url}/conversations/import", json=body, timeout=10,
                         headers={"Cookie": cookie, "Origin": "http://rebind.example"})
    assert foreign.status_code == 403
