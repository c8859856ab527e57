"""Sessions and sign-in against the production server (gunicorn, AUTH=on):

- signing out ends the session on the server: a copy of the old cookie is refused over HTTP
  and Socket.IO, and a socket already open on that session is disconnected;
- a guesser failing over and over from one address is throttled there, but cannot lock the
  account: the right password from another address still signs in.

Addresses differ through X-Forwarded-For from a trusted proxy (127.0.0.1): every process of
the test is on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
import socketio

from harness.processes import ROOT, chatbot_instances, free_port, redis_server
from harness.socketclient import ChatClient

PASSWORD = "correct horse battery"
MAX_FAILURES = 5
MAX_PER_ADDRESS = 20


def add_user(data_dir: Path, name: str) -> None:
    """`chatbot users add`, as the operator runs it, the password piped in."""
    subprocess.run([sys.executable, "-m", "chatbot", "users", "add", name],
                   env={**os.environ, "DATA_DIR": str(data_dir)}, cwd=ROOT,
                   input=f"{PASSWORD}\n", text=True, capture_output=True, check=True)


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("sessions")
    for name in ("alice", "bob", "carol"):
        add_user(data_dir, name)
    nowhere = f"http://127.0.0.1:{free_port()}"  # no LLM: sessions only
    with chatbot_instances(nowhere, data_dir, 1, AUTH="on", AUTH_TRUSTED_PROXIES="127.0.0.1",
                           AUTH_MAX_FAILURES=str(MAX_FAILURES),
                           AUTH_MAX_FAILURES_PER_ADDRESS=str(MAX_PER_ADDRESS)) as (url,):
        yield url


def sign_in(url: str, name: str, password: str, address: str) -> httpx.Response:
    return httpx.post(f"{url}/login", data={"name": name, "password": password},
                      headers={"Origin": url, "X-Forwarded-For": address}, timeout=30)


def cookie_of(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    return "; ".join(f"{k}={v}" for k, v in response.cookies.items())


def test_signing_out_revokes_the_session_and_its_copies(chat_url: str) -> None:
    signed_in = sign_in(chat_url, "alice", PASSWORD, "192.0.2.10")
    cookie = cookie_of(signed_in)
    # A sane lifetime, renewed by use (AUTH_SESSION_DAYS, 14 by default): not 400 days.
    expires = parsedate_to_datetime(signed_in.headers["set-cookie"].split("Expires=")[1]
                                    .split(";")[0])
    assert 13 * 86400 < expires.timestamp() - time.time() < 15 * 86400
    copied = cookie  # what a thief took from the browser

    open_socket = ChatClient(chat_url, cookie).connect()
    try:
        logout = httpx.post(f"{chat_url}/logout", headers={"Cookie": cookie, "Origin": chat_url},
                            timeout=10)
        assert logout.status_code == 302
        open_socket.wait("signed_out", timeout=10)
        deadline = time.monotonic() + 10
        while open_socket.sio.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not open_socket.sio.connected, "the open socket outlived its sign-out"
    finally:
        if open_socket.sio.connected:
            open_socket.close()

    page = httpx.get(f"{chat_url}/", headers={"Cookie": copied}, timeout=10)
    assert page.status_code == 302 and page.headers["location"].endswith("/login")
    api = httpx.get(f"{chat_url}/conversations/x/export.json", headers={"Cookie": copied},
                    timeout=10)
    assert api.status_code == 401
    thief = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        thief.connect(chat_url, headers={"Cookie": copied}, transports=["websocket"],
                      wait_timeout=10)
    # Signing in again works, with a new session.
    assert sign_in(chat_url, "alice", PASSWORD, "192.0.2.10").status_code == 302


def test_failed_sign_ins_throttle_the_address_not_the_account(chat_url: str) -> None:
    guesser, owner = "198.51.100.1", "198.51.100.2"
    statuses = [sign_in(chat_url, "bob", f"guess {n}", guesser).status_code
                for n in range(50)]
    assert statuses[:MAX_FAILURES] == [401] * MAX_FAILURES
    assert set(statuses[MAX_FAILURES:]) == {429}  # throttled, without checking the password
    assert sign_in(chat_url, "bob", PASSWORD, guesser).status_code == 429
    # The account is not locked: its owner, elsewhere, signs in.
    assert sign_in(chat_url, "bob", PASSWORD, owner).status_code == 302


def test_spraying_many_accounts_from_one_address_is_throttled(chat_url: str) -> None:
    sprayer = "198.51.100.3"
    statuses = [sign_in(chat_url, f"user{n}", "Password1", sprayer).status_code
                for n in range(MAX_PER_ADDRESS + 5)]
    assert statuses[:MAX_PER_ADDRESS] == [401] * MAX_PER_ADDRESS
    assert set(statuses[MAX_PER_ADDRESS:]) == {429}
    assert sign_in(chat_url, "carol", PASSWORD, sprayer).status_code == 429
    assert sign_in(chat_url, "carol", PASSWORD, "198.51.100.4").status_code == 302


def test_signing_out_closes_the_sessions_sockets_on_every_instance(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two instances, one product (Redis): a socket of the session held by the instance
    that did not take the sign-out is closed too, even by a client that ignores the
    `signed_out` event (ChatClient does)."""
    data_dir = tmp_path_factory.mktemp("sessions-scaled")
    add_user(data_dir, "dora")
    nowhere = f"http://127.0.0.1:{free_port()}"
    with redis_server() as redis_url, chatbot_instances(
            nowhere, data_dir, 2, AUTH="on", REDIS_URL=redis_url) as (first, second):
        cookie = cookie_of(sign_in(first, "dora", PASSWORD, "192.0.2.40"))
        elsewhere = ChatClient(second, cookie).connect()
        try:
            logout = httpx.post(f"{first}/logout", headers={"Cookie": cookie, "Origin": first},
                                timeout=10)
            assert logout.status_code == 302
            deadline = time.monotonic() + 10
            while elsewhere.sio.connected and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not elsewhere.sio.connected, "the other instance kept the socket open"
        finally:
            if elsewhere.sio.connected:
                elsewhere.close()
