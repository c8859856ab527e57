"""Adding documents from the page: uploads and URLs with their limits and address rules,
background ingestion reported over Socket.IO, stored files served back, collections managed.

One chatbot (no LLM needed), two loopback web servers: RAG_URL_ALLOWLIST names only the
first by host name and port, so a redirect from it to the second, or a URL naming 127.0.0.1
directly, must be refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from harness.documents import HTML, html_page, make_pdf, redirect, serve
from harness.processes import chatbot, free_port
from harness.socketclient import ChatClient
from harness.uploads import finished, rag_data_dir, submit_url, upload

PDF = make_pdf(["The Quokka valve opens at 40 kPa.", "Close it by hand after use."],
               title="Quokka valve")
CORRUPT_PDF = PDF[: len(PDF) // 3]
LIMIT_MB = 0.05  # 51 KB: the oversize file stays small


@dataclass
class Env:
    url: str
    data_dir: Path
    allowed: str  # base URL of the allowed web server, by host name
    private: str  # base URL of the other one, by address
    private_hits: list[str]
    slow_page: threading.Event  # set: the allowed server's /slow page answers


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    hits: list[str] = []

    def secret() -> tuple[int, dict[str, str], bytes]:
        hits.append("/secret")
        return 200, HTML, html_page("Secret", "<p>internal only</p>")

    data_dir = rag_data_dir(tmp_path_factory, "uploads")
    page = (200, HTML, html_page("Allowed page", "<p>Wombats leave cube-shaped droppings.</p>"))

    slow_page = threading.Event()

    def slow() -> tuple[int, dict[str, str], bytes]:
        slow_page.wait(timeout=60)  # the ingestion runs until the test lets it finish
        return 200, HTML, html_page("Slow page", "<p>Sloths descend once a week.</p>")
    with serve({"/secret": secret}) as private, \
            serve({"/page": page, "/slow": slow,
                   "/to-private": redirect(f"{private}/secret")}) as public:
        allowed = public.replace("127.0.0.1", "localhost")
        with chatbot(f"http://127.0.0.1:{free_port()}", data_dir,
                     UPLOAD_MAX_MB=str(LIMIT_MB), UPLOAD_MAX_FILES="3",
                     RAG_URL_ALLOWLIST=urlsplit(allowed).netloc) as url:
            yield Env(url, data_dir, allowed, private, hits, slow_page)
            slow_page.set()


@pytest.fixture
def client(env: Env) -> Iterator[ChatClient]:
    with ChatClient(env.url) as client:
        yield client


def test_a_pdf_upload_reports_progress_then_its_summary(env: Env, client: ChatClient) -> None:
    start = client.mark()
    done = finished(client, upload(client, [("valve manual.pdf", PDF)], "manuals"))
    states = [e["state"] for e in client.since(start, "ingest")]
    assert states[:2] == ["queued", "running"] and "progress" in states
    assert done["state"] == "done" and done["names"] == ["valve_manual.pdf"]
    assert done["summary"]["added"] == 1 and done["summary"]["chunks"] >= 1
    assert done["summary"]["failed"] == []
    assert done["text"].startswith("Added ") and "“manuals”" in done["text"]
    listing = client.wait("collections", since=start)[2]["collections"]
    assert {"name": "manuals", "chunks": done["summary"]["chunks"], "documents": 1,
            "owner": None, "shared": False, "yours": True} in listing
    # The same bytes again are the same source: nothing is duplicated.
    again = finished(client, upload(client, [("copy.pdf", PDF)], "manuals"))
    assert again["summary"]["unchanged"] == 1 and again["summary"]["chunks"] == 0


def test_a_corrupt_pdf_fails_with_its_reason(client: ChatClient) -> None:
    done = finished(client, upload(client, [("broken.pdf", CORRUPT_PDF),
                                            ("notes.md", b"# Notes\n\nValves need care.")],
                                   "mixed"))
    assert done["state"] == "done"
    assert done["summary"]["added"] == 1
    [failure] = done["summary"]["failed"]
    assert failure["source"] == "broken.pdf" and "PDF" in failure["reason"]
    assert "broken.pdf" in done["text"]


def test_limits_and_kinds_are_refused_readably(client: ChatClient) -> None:
    big = upload(client, [("big.txt", b"x" * int(LIMIT_MB * 1024 * 1024 + 10))], "limits")
    assert big.status_code == 413 and "larger than the 0.05 MB limit" in big.json()["error"]
    many = upload(client, [(f"{i}.txt", b"hello") for i in range(4)], "limits")
    assert many.status_code == 400 and "at most 3" in many.json()["error"]
    exe = upload(client, [("tool.exe", b"MZ")], "limits")
    assert exe.status_code == 400 and "only PDF, HTML, Markdown, text, Word" in exe.json()["error"]
    bad_name = upload(client, [("a.txt", b"hi")], "../etc")
    assert bad_name.status_code == 400 and "Collection names" in bad_name.json()["error"]
    # Over the whole-request limit: refused from the Content-Length, before parsing.
    huge = httpx.post(f"{client.base_url}/documents/files", timeout=30,
                      headers={"Cookie": client.cookie, "Origin": client.base_url,
                               "Content-Type": "multipart/form-data; boundary=x"},
                      content=b"x" * (4 * 1024 * 1024))
    assert huge.status_code == 413 and "Upload too large" in huge.json()["error"]


def test_uploads_need_the_pages_own_origin(client: ChatClient) -> None:
    for origin in (None, "http://evil.example"):
        response = upload(client, [("a.txt", b"hello")], "csrf", origin=origin)
        assert response.status_code == 403
        assert "this site's own page" in response.json()["error"]


def test_a_file_name_never_becomes_a_path(env: Env, client: ChatClient) -> None:
    done = finished(client, upload(client, [("../../../escape.txt", b"Traversal test text.")],
                                   "names"))
    assert done["names"] == ["escape.txt"]
    stored = list(env.data_dir.rglob("escape.txt"))
    assert len(stored) == 1 and stored[0].parent.parent == env.data_dir / "uploads"
    served = httpx.get(f"{env.url}/files/{stored[0].parent.name}", timeout=10)
    assert served.text == "Traversal test text."
    assert served.headers["content-type"].startswith("text/plain")
    assert httpx.get(f"{env.url}/files/..%2F..%2Fsecret_key", timeout=10).status_code == 404


def test_urls_to_private_addresses_are_refused(env: Env, client: ChatClient) -> None:
    port = urlsplit(env.allowed).port
    for url in (f"http://127.0.0.1:{port}/page", "http://169.254.169.254/latest/meta-data/",
                "file:///etc/passwd"):
        response = submit_url(client, url, "web")
        assert response.status_code == 400, url
        assert "only fetches public addresses" in response.json()["error"]


def test_an_allowed_host_is_fetched_but_not_its_redirect_to_a_private_one(
        env: Env, client: ChatClient) -> None:
    ok = finished(client, submit_url(client, f"{env.allowed}/page", "web"))
    assert ok["summary"]["added"] == 1 and ok["summary"]["failed"] == []
    refused = finished(client, submit_url(client, f"{env.allowed}/to-private", "web"))
    [failure] = refused["summary"]["failed"]
    assert "non-public" in failure["reason"]
    assert env.private_hits == []


def test_collections_are_listed_and_deleted(client: ChatClient) -> None:
    for name in ("to-keep", "to-delete"):
        finished(client, upload(client, [(f"{name}.txt", b"Some text.")], name))

    def names(event: dict) -> list[str]:
        return [c["name"] for c in event["collections"]]

    # Listings also arrive unasked (after each ingest): wait for the one showing the change.
    start = client.emit("collections", {})
    client.wait("collections", since=start, timeout=30, where=lambda d: "to-delete" in names(d))
    start = client.emit("delete_collection", {"name": "to-delete"})
    after = client.wait("collections", since=start, timeout=30,
                        where=lambda d: "to-delete" not in names(d))[2]
    assert "to-keep" in names(after)
    start = client.emit("delete_collection", {"name": "to-delete"})
    assert "Could not delete" in client.wait("error", since=start)[2]["message"]


def test_a_collection_being_filled_is_not_deleted(env: Env, client: ChatClient) -> None:
    response = submit_url(client, f"{env.allowed}/slow", "filling")
    start = client.emit("delete_collection", {"name": "filling"})
    assert "still being added" in client.wait("error", since=start, timeout=30)[2]["message"]
    env.slow_page.set()
    done = finished(client, response)
    assert done["state"] == "done", done
    start = client.emit("delete_collection", {"name": "filling"})
    client.wait("collections", since=start, timeout=30,
                where=lambda d: "filling" not in [c["name"] for c in d["collections"]])


def test_deleted_uploads_leave_the_disk_and_stop_being_served(
        env: Env, client: ChatClient) -> None:
    """Accounts off, real process: upload → delete leaves nothing behind, so upload, delete,
    repeat cannot fill the disk; the same bytes from another browser are kept until the last
    collection holding them goes."""
    body = b"Upload then delete: the kiwi's egg is a fifth of its weight."
    done = finished(client, upload(client, [("kiwi.txt", body)], "to-empty"))
    assert done["state"] == "done"
    with ChatClient(env.url) as other:
        theirs = finished(other, upload(other, [("egg.txt", body)], "to-empty-too"))
        assert theirs["state"] == "done" and theirs["names"] == ["egg.txt"]
    [mine] = env.data_dir.rglob("kiwi.txt")
    [copy] = env.data_dir.rglob("egg.txt")
    assert mine.parent == copy.parent and mine.stat().st_ino == copy.stat().st_ino
    link = f"{env.url}/files/{mine.parent.name}"
    assert httpx.get(link, timeout=10).text == body.decode()

    for name, gone in (("to-empty", [mine]), ("to-empty-too", [copy, copy.parent])):
        start = client.emit("delete_collection", {"name": name})
        client.wait("collections", since=start, timeout=30,
                    where=lambda d, n=name: n not in [c["name"] for c in d["collections"]])
        assert not any(p.exists() for p in gone), name
    assert not mine.parent.exists()
    assert httpx.get(link, timeout=10).status_code == 404
