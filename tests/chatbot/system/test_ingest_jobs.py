"""Ingestion jobs under attack (accounts on): one user's slow jobs do not hold everyone's,
a job is cancelled by its owner and by no one else, a queued job cannot write into a
collection another user created meanwhile, and uploaded files on disk follow their
documents (each uploader keeping their own file name for the same bytes).

In-process app, real embedded Chroma and embedding model; a loopback site (allow-listed)
whose /slow/<n> pages answer only when the test lets them, as a hostile or stuck site would.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from harness.documents import HTML, html_page, serve
from harness.fake_llm import FakeLLM
from harness.inprocess import ORIGIN, ChatApp, Tab
from harness.uploads import rag_data_dir

PASSWORD = "correct horse battery"
NOTES = b"# Ferry notes\n\nThe Quimby ferry is painted violet and carries 40 cars.\n"
# Far more than any step below needs: a test that fails, fails by this, not by a hang.
WAIT_S = 120


@dataclass
class Site:
    app: ChatApp
    alice: FlaskClient
    bob: FlaskClient
    alice_tab: Tab
    bob_tab: Tab
    url: str
    gates: dict[str, threading.Event] = field(default_factory=dict)
    admin: FlaskClient | None = None

    def gate(self, name: str) -> str:
        """The URL of a page that answers once `open(name)` is called."""
        self.gates.setdefault(name, threading.Event())
        return f"{self.url}/slow/{name}"

    def open(self, name: str) -> None:
        self.gates[name].set()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    gates: dict[str, threading.Event] = {}

    class Routes(dict):  # type: ignore[type-arg]
        def get(self, path: str, default: Any = None) -> Any:
            if not path.startswith("/slow/"):
                return default

            def answer() -> tuple[int, dict[str, str], bytes]:
                gates.setdefault(path[len("/slow/"):], threading.Event()).wait(WAIT_S)
                return 200, HTML, html_page("Slow page", f"<p>Sloths at {path}.</p>")
            return answer

    with FakeLLM() as llm, serve(Routes()) as base, pytest.MonkeyPatch.context() as env:
        # The slow pages send nothing until let go: no per-read timeout may cut them first.
        env.setenv("RAG_FETCH_TIMEOUT", str(WAIT_S))
        env.setenv("RAG_FETCH_DEADLINE", str(WAIT_S))
        app = ChatApp(rag_data_dir(tmp_path_factory, "ingest-jobs"), llm.url, auth=True,
                      rag_url_allowlist="127.0.0.1")
        accounts = app.app.extensions["chatbot"].accounts
        accounts.add("alice", PASSWORD)
        accounts.add("bob", PASSWORD)
        accounts.add("root", PASSWORD, admin=True)
        alice, bob = app.signed_in("alice", PASSWORD), app.signed_in("bob", PASSWORD)
        site = Site(app, alice, bob, app.tab(alice), app.tab(bob), base, gates)
        site.admin = app.signed_in("root", PASSWORD)
        yield site
        for gate in gates.values():
            gate.set()
        app.close()


def post(client: FlaskClient, path: str, **data: Any) -> Any:
    return client.post(path, headers={"Origin": ORIGIN}, data=data)


def start(client: FlaskClient, path: str, **data: Any) -> str:
    response = post(client, path, **data)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["job"]


def upload(client: FlaskClient, collection: str, name: str, body: bytes = NOTES) -> str:
    return start(client, "/documents/files", collection=collection,
                 files=[(io.BytesIO(body), name)])


def state(tab: Tab, job: str, *states: str) -> dict[str, Any]:
    return tab.wait("ingest", timeout=WAIT_S,
                    where=lambda d: d["job"] == job and d["state"] in states)[1]


def ended(tab: Tab, job: str) -> dict[str, Any]:
    return state(tab, job, "done", "failed", "cancelled")


def has_ended(tab: Tab, job: str) -> bool:
    return any(n == "ingest" and d["job"] == job and d["state"] in ("done", "failed",
                                                                     "cancelled")
               for n, d in tab.events())


def documents(tab: Tab, collection: str) -> dict[str, Any]:
    begin = tab.emit("documents", {"collection": collection})
    return tab.wait("documents", since=begin,
                    where=lambda d: d["collection"] == collection)[1]


def served_as(client: FlaskClient, url: str) -> str:
    """The file name /files/ sends the document under (404: asserted not)."""
    response = client.get(url)
    assert response.status_code == 200, url
    return response.headers["Content-Disposition"].split("filename=", 1)[1].strip('"')


def stored(site: Site) -> list[Path]:
    uploads = site.app.data_dir / "uploads"
    return sorted(p for p in uploads.glob("*/*") if p.is_file())


def test_one_users_slow_jobs_do_not_hold_another_users_job(site: Site) -> None:
    first = start(site.alice, "/documents/url", url=site.gate("fair-1"), collection="a-one")
    second = start(site.alice, "/documents/url", url=site.gate("fair-2"), collection="a-two")
    state(site.alice_tab, first, "running")
    bobs = upload(site.bob, "bob-fair", "notes.md")
    assert ended(site.bob_tab, bobs)["state"] == "done"
    # Bob's job went through while both of Alice's were still held by the slow site.
    assert not has_ended(site.alice_tab, first) and not has_ended(site.alice_tab, second)
    site.open("fair-1")
    site.open("fair-2")
    assert ended(site.alice_tab, first)["state"] == "done"
    assert ended(site.alice_tab, second)["state"] == "done"


def test_a_job_is_cancelled_by_its_owner_not_by_another_user(site: Site) -> None:
    running = start(site.alice, "/documents/url", url=site.gate("cancel-1"),
                    collection="a-cancel")
    state(site.alice_tab, running, "running")
    queued = start(site.alice, "/documents/url", url=site.gate("cancel-2"),
                   collection="a-cancel-2")
    for job in (running, queued):
        response = post(site.bob, "/documents/cancel", job=job)
        assert response.status_code == 404, response.get_json()
        assert "no such job" in response.get_json()["error"]
    assert post(site.bob, "/documents/cancel").status_code == 400
    assert not has_ended(site.alice_tab, running)
    assert [j["job"] for j in site.bob.get("/documents/jobs").get_json()["jobs"]] == []
    mine = site.alice.get("/documents/jobs").get_json()["jobs"]
    assert {(j["job"], j["state"]) for j in mine} == {(running, "running"), (queued, "queued")}

    for job in (queued, running):
        assert post(site.alice, "/documents/cancel", job=job).status_code == 200
    assert ended(site.alice_tab, queued) | {"names": None} == {
        "job": queued, "collection": "a-cancel-2", "names": None, "state": "cancelled",
        "skipped": [], "text": "Cancelled before it started."}
    final = ended(site.alice_tab, running)  # the slow page never answered: cut mid-fetch
    assert final["state"] == "cancelled" and final["text"].startswith("Cancelled"), final
    assert post(site.alice, "/documents/cancel", job=running).status_code == 404
    site.open("cancel-1")
    site.open("cancel-2")


def test_an_admin_sees_and_cancels_anyones_job(site: Site) -> None:
    """The operator's way to stop a user's job: an admin account."""
    assert site.admin is not None
    job = start(site.bob, "/documents/url", url=site.gate("admin"), collection="bob-admin")
    state(site.bob_tab, job, "running")
    listed = site.admin.get("/documents/jobs").get_json()["jobs"]
    assert {"job": job, "user": "bob", "state": "running", "collection": "bob-admin",
            "names": [site.gate("admin")]} in listed
    assert post(site.admin, "/documents/cancel", job=job).status_code == 200
    assert ended(site.bob_tab, job)["state"] == "cancelled"
    site.open("admin")


def test_a_queued_job_cannot_write_into_a_collection_created_meanwhile(site: Site) -> None:
    holding = start(site.bob, "/documents/url", url=site.gate("race"), collection="bob-race")
    state(site.bob_tab, holding, "running")
    # Not there yet, so the request passes; the job waits behind Bob's slow one.
    sneaky = upload(site.bob, "alice-race", "bob-secret.md", b"# Bob\n\nBob was here.\n")
    alices = upload(site.alice, "alice-race", "notes.md")
    assert ended(site.alice_tab, alices)["state"] == "done"
    site.open("race")
    assert ended(site.bob_tab, holding)["state"] == "done"
    final = ended(site.bob_tab, sneaky)
    assert final["state"] == "failed", final
    assert "taken by another user; nothing was added" in final["text"]
    assert [d["name"] for d in documents(site.alice_tab, "alice-race")["documents"]] == [
        "notes.md"]
    assert not [p for p in stored(site) if p.name == "bob-secret.md"]  # not kept either


def test_a_name_another_users_job_created_first_is_refused_not_merged(site: Site) -> None:
    bobs = upload(site.bob, "alice-later", "bob-notes.md", b"# Bob\n\nBob's own notes.\n")
    assert ended(site.bob_tab, bobs)["state"] == "done"
    response = post(site.alice, "/documents/files", collection="alice-later",
                    files=[(io.BytesIO(NOTES), "notes.md")])
    assert response.status_code == 403
    assert "taken by another user" in response.get_json()["error"]
    assert [d["name"] for d in documents(site.bob_tab, "alice-later")["documents"]] == [
        "bob-notes.md"]


def test_uploaded_files_follow_their_documents_and_keep_each_uploaders_name(
        site: Site) -> None:
    body = b"# Shared\n\nThe same bytes, uploaded twice: the heron stands on one leg.\n"
    alices = upload(site.alice, "alice-files", "alice-name.md", body)
    done = ended(site.alice_tab, alices)
    assert done["state"] == "done" and done["names"] == ["alice-name.md"]
    bobs = upload(site.bob, "bob-files", "bob-name.md", body)
    done = ended(site.bob_tab, bobs)
    assert done["state"] == "done" and done["names"] == ["bob-name.md"]  # never Alice's

    alice_doc, = documents(site.alice_tab, "alice-files")["documents"]
    bob_doc, = documents(site.bob_tab, "bob-files")["documents"]
    assert (alice_doc["name"], bob_doc["name"]) == ("alice-name.md", "bob-name.md")
    paths = [p for p in stored(site) if p.name in ("alice-name.md", "bob-name.md")]
    assert [p.name for p in paths] == ["alice-name.md", "bob-name.md"]
    assert paths[0].parent == paths[1].parent  # one folder: the same bytes
    assert os.stat(paths[0]).st_ino == os.stat(paths[1]).st_ino  # stored once on disk
    # One link for the bytes; each reader gets them under their own document's name.
    assert alice_doc["url"] == bob_doc["url"]
    assert served_as(site.alice, alice_doc["url"]) == "alice-name.md"
    assert served_as(site.bob, bob_doc["url"]) == "bob-name.md"

    begin = site.alice_tab.emit("remove_document", {"collection": "alice-files",
                                                   "id": alice_doc["id"]})
    site.alice_tab.wait("documents", since=begin,
                        where=lambda d: d["collection"] == "alice-files")
    assert not paths[0].exists() and paths[1].exists()  # Bob's reference keeps the bytes
    assert served_as(site.bob, bob_doc["url"]) == "bob-name.md"
    # Alice sent these bytes herself, but no document of hers names them now: never Bob's.
    assert served_as(site.alice, alice_doc["url"]) == "document.md"

    begin = site.bob_tab.emit("delete_collection", {"name": "bob-files"})
    site.bob_tab.wait("collections", since=begin, where=lambda d: "bob-files" not in [
        c["name"] for c in d["collections"]])
    assert not paths[1].parent.exists()  # the last reference gone: nothing left on disk
    assert site.bob.get(bob_doc["url"]).status_code == 404


def test_the_operator_lists_and_cancels_jobs_from_the_command_line(site: Site) -> None:
    """`chatbot jobs` and `chatbot jobs cancel JOB`, run as the operator would, against the
    app served on loopback; the token in DATA_DIR is the only key to those routes."""
    server = make_server("127.0.0.1", 0, site.app.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    env = {**os.environ, "DATA_DIR": str(site.app.data_dir)}

    def chatbot_jobs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "chatbot", "jobs", "--url", url, *args],
                              env=env, capture_output=True, text=True, timeout=60)

    try:
        job = start(site.bob, "/documents/url", url=site.gate("operator"),
                    collection="bob-operator")
        state(site.bob_tab, job, "running")
        listed = chatbot_jobs()
        assert listed.returncode == 0, listed.stderr
        header, *rows = listed.stdout.splitlines()
        assert header.split() == ["JOB", "STATE", "USER", "COLLECTION", "SOURCES"]
        assert [row.split() for row in rows] == [
            [job, "running", "bob", "bob-operator", site.gate("operator")]]

        # Neither a signed-in user's cookie nor a wrong token opens the operator's routes.
        assert site.bob.get("/operator/jobs").status_code == 401
        assert site.admin is not None
        assert post(site.admin, "/operator/jobs/cancel", job=job).status_code == 401
        wrong = httpx.get(f"{url}/operator/jobs", headers={"Authorization": "Bearer x" * 8})
        assert wrong.status_code == 401

        cancelled = chatbot_jobs("cancel", job)
        assert (cancelled.returncode, cancelled.stdout) == (0, f"Cancelled {job}.\n")
        assert ended(site.bob_tab, job)["state"] == "cancelled"
        again = chatbot_jobs("cancel", job)
        assert again.returncode == 1 and "no such job" in again.stderr
        assert chatbot_jobs().stdout == "No ingestion jobs queued or running.\n"
    finally:
        site.open("operator")
        server.shutdown()
        server.server_close()


def test_the_command_line_says_what_is_wrong(tmp_path: Path) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "chatbot", "jobs"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "operator_token" in run.stderr and "started once" in run.stderr
    (tmp_path / "operator_token").write_text("abc")
    down = subprocess.run([sys.executable, "-m", "chatbot", "jobs", "--url",
                           "http://127.0.0.1:9"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert down.returncode == 1 and "no chatbot answering at http://127.0.0.1:9" in down.stderr


def test_a_removed_document_frees_its_storage_not_the_days_uploads(site: Site) -> None:
    store = site.app.app.extensions["chatbot"].store
    alice = site.app.app.extensions["chatbot"].accounts.by_name("alice").key

    def usage() -> tuple[int, int]:
        return store.upload_usage(alice, time.time() - 86400)

    before_added, before_kept = usage()
    body = b"# Quota\n\nThe lighthouse keeper counts 7 gulls.\n" * 50
    job = upload(site.alice, "alice-quota", "quota.md", body)
    assert ended(site.alice_tab, job)["state"] == "done"
    assert usage() == (before_added + 1, before_kept + len(body))

    doc, = documents(site.alice_tab, "alice-quota")["documents"]
    begin = site.alice_tab.emit("remove_document", {"collection": "alice-quota",
                                                   "id": doc["id"]})
    site.alice_tab.wait("documents", since=begin, where=lambda d: d["collection"] ==
                        "alice-quota" and not d["documents"])
    # The bytes are gone and no longer count; the upload still counts for today.
    assert usage() == (before_added + 1, before_kept)
