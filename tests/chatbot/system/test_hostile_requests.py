"""Requests that abuse what a signed-in or anonymous user may send, against the production
server (gunicorn, AUTH=on): an endless chunked import, imports past the daily limit, a model
the server does not offer or a shared model switched by a non-admin, readiness details for
strangers; and the modes of the files the chatbot creates in DATA_DIR."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatbot import create_app
from harness.fake_llm import MODEL, FakeLLM
from harness.processes import ROOT, chatbot_instances
from harness.socketclient import ChatClient, signed_in_cookie

PASSWORD = "correct horse battery"
PER_DAY = 2
EXPORT = {"title": "imported", "messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello"}]}


def add_user(data_dir: Path, name: str, admin: bool = False) -> None:
    subprocess.run([sys.executable, "-m", "chatbot", "users", "add", name,
                    *(["--admin"] if admin else [])],
                   env={**os.environ, "DATA_DIR": str(data_dir)}, cwd=ROOT,
                   input=f"{PASSWORD}\n", text=True, capture_output=True, check=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, FakeLLM]]:
    data_dir = tmp_path_factory.mktemp("hostile-requests") / "data"  # made by the chatbot
    with FakeLLM() as llm:
        # The users tool makes DATA_DIR first, as an operator would.
        add_user(data_dir, "alice", admin=True)
        add_user(data_dir, "bob")
        with chatbot_instances(llm.url, data_dir, 1, AUTH="on",
                               USER_UPLOADS_PER_DAY=str(PER_DAY)) as (url,):
            yield url, data_dir, llm


def test_an_endless_chunked_import_is_cut_off_while_streaming(
        server: tuple[str, Path, FakeLLM]) -> None:
    url, _, _ = server
    cookie = signed_in_cookie(url, "bob", PASSWORD)
    sent = 0

    def endless() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        nonlocal sent
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(64):  # 64 MiB if nothing stops it
            sent += 1
            yield b"x" * (1024 * 1024)

    try:
        response = httpx.post(f"{url}/conversations/import", content=endless(), timeout=60,
                              headers={"Cookie": cookie, "Origin": url,
                                       "Content-Type": "application/json"})
    except httpx.HTTPError:
        pytest.fail("the server dropped the connection instead of answering 413")
    assert response.status_code == 413
    assert "too large to import" in response.json()["error"]


def test_imports_count_against_the_daily_limit(server: tuple[str, Path, FakeLLM]) -> None:
    url, _, _ = server
    cookie = signed_in_cookie(url, "alice", PASSWORD)

    def post() -> httpx.Response:
        return httpx.post(f"{url}/conversations/import", json=EXPORT, timeout=30,
                          headers={"Cookie": cookie, "Origin": url})

    assert [post().status_code for _ in range(PER_DAY)] == [201] * PER_DAY
    refused = post()
    assert refused.status_code == 429 and "at most 2 are allowed per day" in refused.json()[
        "error"]


def test_only_offered_models_and_only_admins_switch_them(
        server: tuple[str, Path, FakeLLM]) -> None:
    url, _, _ = server
    with ChatClient(url, signed_in_cookie(url, "bob", PASSWORD)) as bob:
        start = bob.emit("settings", {"model": "../../etc/passwd"})
        assert "Only an admin" in bob.wait("error", since=start, timeout=10)[2]["message"]
        start = bob.emit("settings", {"model": MODEL})
        assert "Only an admin" in bob.wait("error", since=start, timeout=10)[2]["message"]
        start = bob.send(f"/model {MODEL}")
        assert "Only an admin" in bob.wait("error", since=start, timeout=10)[2]["message"]
        start = bob.emit("settings", {"temperature": 0.5, "model": None})
        assert bob.wait("settings", since=start, timeout=10)[2]["temperature"] == 0.5
    with ChatClient(url, signed_in_cookie(url, "alice", PASSWORD)) as alice:
        start = alice.emit("settings", {"model": "not-offered"})
        assert "No model `not-offered`" in alice.wait("error", since=start,
                                                      timeout=10)[2]["message"]
        start = alice.emit("settings", {"model": MODEL})
        assert alice.wait("settings", since=start, timeout=10)[2]["model"] == MODEL


def test_readiness_tells_strangers_only_the_verdict(server: tuple[str, Path, FakeLLM]) -> None:
    url, _, llm = server
    anonymous = httpx.get(f"{url}/healthz?ready=1", timeout=30)
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "ok", "llm": {"reachable": True},
                                "chroma": {"reachable": True}}
    admin = httpx.get(f"{url}/healthz?ready=1", timeout=30,
                      headers={"Cookie": signed_in_cookie(url, "alice", PASSWORD)})
    assert admin.json()["llm"] == {"reachable": True, "model": MODEL}
    page = httpx.get(f"{url}/login", timeout=10)
    csp = page.headers["content-security-policy"]
    assert "connect-src 'self';" in csp and "ws:" not in csp and "wss:" not in csp


def test_data_dir_and_its_files_are_private(server: tuple[str, Path, FakeLLM]) -> None:
    _, data_dir, _ = server
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for path in data_dir.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
    assert (data_dir / "conversations.sqlite3").exists() and (data_dir / "secret_key").exists()


def test_a_readable_data_dir_is_warned_about_not_changed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir = tmp_path / "shared"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="chatbot"):
        create_app({"data_dir": data_dir, "llm_base_url": "http://127.0.0.1:9/v1"})
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o755  # the operator's choice stays
    assert f"chmod -R go-rwx {data_dir}" in caplog.text
