"""The Documents dialog's events: a collection's documents listed, one removed, a URL fetched
again as an ingestion job; the retrieval debug view. With accounts on (AUTH=on), another
user's private collection is answered as absent, a shared one is listed but not changed.

In-process app, canned LLM server, real embedded Chroma and the packaged embedding model; a
loopback site (allow-listed) stands in for a web page that changes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from harness.documents import HTML, html_page, serve
from harness.fake_llm import FakeLLM
from harness.inprocess import ChatApp, Tab
from harness.uploads import add_in_process as add
from harness.uploads import ingest_finished as finished
from harness.uploads import rag_data_dir

PASSWORD = "correct horse battery"
NOTES = b"# Ferry notes\n\nThe Quimby ferry is painted violet and carries 40 cars.\n"
PAGE = {"body": "<p>The Zorblax ferry leaves at nine from pier four.</p>"}


@dataclass
class Site:
    app: ChatApp
    alice: FlaskClient
    bob: FlaskClient
    alice_tab: Tab
    bob_tab: Tab
    url: str


def documents(tab: Tab, collection: str) -> dict[str, Any]:
    start = tab.emit("documents", {"collection": collection})
    return tab.wait("documents", since=start, where=lambda d: d["collection"] == collection)[1]



@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    def page() -> tuple[int, dict[str, str], bytes]:
        return 200, HTML, html_page("Ferry times", PAGE["body"])

    with FakeLLM() as llm, serve({"/ferry": page}) as base:
        app = ChatApp(rag_data_dir(tmp_path_factory, "documents-panel"), llm.url, auth=True,
                      rag_url_allowlist="127.0.0.1")
        accounts = app.app.extensions["chatbot"].accounts
        accounts.add("alice", PASSWORD)
        accounts.add("bob", PASSWORD)
        alice, bob = app.signed_in("alice", PASSWORD), app.signed_in("bob", PASSWORD)
        alice_tab, bob_tab = app.tab(alice), app.tab(bob)
        done = add(alice, alice_tab, "/documents/files", collection="alice-docs",
                   files=[(io.BytesIO(NOTES), "notes.md")])
        assert done["state"] == "done", done
        done = add(alice, alice_tab, "/documents/url", collection="alice-docs",
                   url=base + "/ferry")
        assert done["state"] == "done" and done["summary"]["added"] == 1, done
        yield Site(app, alice, bob, alice_tab, bob_tab, base + "/ferry")
        app.close()


def test_documents_are_listed_with_kind_chunks_date_and_link(site: Site) -> None:
    listing = documents(site.alice_tab, "alice-docs")
    assert listing["can_change"] is True
    by_kind = {d["kind"]: d for d in listing["documents"]}
    assert set(by_kind) == {"markdown", "url"}
    notes, page = by_kind["markdown"], by_kind["url"]
    assert (notes["name"], notes["title"], notes["chunks"]) == ("notes.md", "Ferry notes", 1)
    assert notes["url"].startswith("/files/") and "/" not in notes["url"][len("/files/"):]
    assert site.alice.get(notes["url"]).status_code == 200
    assert (page["name"], page["url"], page["title"]) == (site.url, site.url, "Ferry times")
    assert all(d["added"].startswith("20") and d["ocr_pages"] == [] for d in (notes, page))
    # Health: first added, last checked, what went wrong (nothing here).
    assert all(d["first_added"] == d["added"] <= d["checked"] and d["problem"] == ""
               for d in (notes, page))
    assert listing["failed"] == []
    # The server's paths are never sent.
    assert "uploads" not in str(listing)


def test_another_users_private_collection_is_absent(site: Site) -> None:
    bob = site.bob_tab
    assert documents(bob, "alice-docs") == {
        "collection": "alice-docs", "documents": [], "error": "No collection “alice-docs”."}
    [doc, _] = documents(site.alice_tab, "alice-docs")["documents"]
    for event in ("remove_document", "refetch_document"):
        assert "no collection “alice-docs”" in bob.refused(
            event, {"collection": "alice-docs", "id": doc["id"]}), event
    assert "Malformed" in bob.refused("remove_document", {"collection": "alice-docs"})
    assert len(documents(site.alice_tab, "alice-docs")["documents"]) == 2


def test_a_shared_collection_is_listed_but_not_changed_by_others(site: Site) -> None:
    site.app.app.extensions["chatbot"].library.share("alice-docs", True)
    try:
        listing = documents(site.bob_tab, "alice-docs")
        assert listing["can_change"] is False and len(listing["documents"]) == 2
        doc = listing["documents"][0]
        assert "only the owner" in site.bob_tab.refused("remove_document",
                                           {"collection": "alice-docs", "id": doc["id"]})
    finally:
        site.app.app.extensions["chatbot"].library.share("alice-docs", False)


def test_refetch_reembeds_only_a_changed_page(site: Site) -> None:
    tab = site.alice_tab
    page = next(d for d in documents(tab, "alice-docs")["documents"] if d["kind"] == "url")
    start = tab.emit("refetch_document", {"collection": "alice-docs", "id": page["id"]})
    queued = tab.wait("ingest", since=start, where=lambda d: d["state"] == "queued")[1]
    done = finished(tab, start, queued["job"])
    assert done["state"] == "done" and done["summary"]["unchanged"] == 1
    assert done["summary"]["chunks"] == 0
    PAGE["body"] = "<p>The Zorblax ferry now leaves at ten from pier six.</p>"
    start = tab.emit("refetch_document", {"collection": "alice-docs", "id": page["id"]})
    done = tab.wait("ingest", since=start, where=lambda d: d["state"] in ("done", "failed"))[1]
    assert done["state"] == "done" and done["summary"]["replaced"] == 1, done
    notes = next(d for d in documents(tab, "alice-docs")["documents"] if d["kind"] != "url")
    assert "not a URL" in tab.refused("refetch_document",
                                  {"collection": "alice-docs", "id": notes["id"]})


def test_retrieval_debug_shows_ranks_only_when_on(site: Site) -> None:
    tab = site.alice_tab
    start = tab.send("/rag on alice-docs")
    tab.wait("notice", since=start)
    start = tab.emit("retrieval_debug", {"on": True})
    _, ended, _ = tab.answer(tab.send("What colour is the Quimby ferry?"))
    assert ended == "done"
    [explained] = tab.since(start, "retrieval")
    assert explained["collection"] == "alice-docs"
    best = explained["passages"][0]
    assert best["title"] == "Ferry notes" and best["used"] is True
    assert best["lexical_rank"] == 1 and best["vector_rank"] == 1 and best["score"] > 0
    assert "violet" in best["excerpt"] and best["url"].startswith("/files/")
    names = [n for n, _ in tab.events(start)]
    assert names.index("retrieval") < names.index("done")
    start = tab.emit("retrieval_debug", {"on": False})
    assert tab.ask("What colour is the Quimby ferry?")[1] == "done"
    assert tab.since(start, "retrieval") == []


def test_remove_document_updates_the_listing_and_retrieval(site: Site) -> None:
    tab = site.alice_tab
    notes = next(d for d in documents(tab, "alice-docs")["documents"] if d["kind"] != "url")
    start = tab.emit("remove_document", {"collection": "alice-docs", "id": notes["id"]})
    listing = tab.wait("documents", since=start)[1]
    assert [d["kind"] for d in listing["documents"]] == ["url"]
    collections = tab.wait("collections", since=start)[1]["collections"]
    assert [(c["name"], c["documents"]) for c in collections] == [("alice-docs", 1)]
    assert "no longer in" in tab.refused("remove_document",
                                     {"collection": "alice-docs", "id": notes["id"]})
    _, _, done = tab.ask("What colour is the Quimby ferry?")
    assert all(s["title"] != "Ferry notes" for s in done["sources"])


def test_a_file_that_failed_stays_listed_with_why(site: Site) -> None:
    done = add(site.alice, site.alice_tab, "/documents/files", collection="alice-docs",
               files=[(io.BytesIO(b"%PDF-1.4 cut short"), "broken.pdf")])
    assert [f["reason"] for f in done["summary"]["failed"]], done
    [failed] = documents(site.alice_tab, "alice-docs")["failed"]
    assert failed["name"] == "broken.pdf" and failed["reason"] and failed["checked"] > "2026"
    assert "uploads" not in str(failed)
    # A file of a kind that is not read is kept there too, once its job is done.
    done = add(site.alice, site.alice_tab, "/documents/files", collection="alice-docs",
               files=[(io.BytesIO(b"\x89PNG"), "photo.png"),
                      (io.BytesIO(b"# Tides\n\nTwo high waters a day.\n"), "tides.md")])
    assert done["state"] == "done", done
    listed = {f["name"]: f["reason"] for f in documents(site.alice_tab, "alice-docs")["failed"]}
    assert "photo.png" in listed and ".png" in listed["photo.png"]


def test_test_retrieval_shows_ranks_to_whoever_may_read(site: Site) -> None:
    start = site.alice_tab.emit("test_retrieval", {"collection": "alice-docs",
                                                   "query": "When does the Zorblax ferry leave?"})
    found = site.alice_tab.wait("test_retrieval", since=start)[1]
    assert found["query"] == "When does the Zorblax ferry leave?"
    passages = found["passages"]
    assert [p["rank"] for p in passages] == list(range(1, len(passages) + 1))
    assert "Zorblax" in passages[0]["excerpt"]
    assert {"title", "url", "score", "lexical_rank", "vector_rank", "headings"} <= set(
        passages[0])
    # Another user's collection is answered as a missing one; bad requests say why.
    assert "No collection “alice-docs”" in site.bob_tab.refused(
        "test_retrieval", {"collection": "alice-docs", "query": "ferry"})
    for bad in ({"collection": "alice-docs"}, {"collection": "alice-docs", "query": "  "},
                {"collection": 3, "query": "ferry"}):
        assert "Malformed" in site.alice_tab.refused("test_retrieval", bad)
    assert "at most 1000" in site.alice_tab.refused(
        "test_retrieval", {"collection": "alice-docs", "query": "ferry " * 300})
