"""Outside servers cannot hold an ingestion: a fetch has a total deadline however slowly the
bytes come, robots.txt's Crawl-delay is capped, a crawl has a total deadline, a running
ingestion can be cancelled; and a collection another owner holds is refused where it is
written. Real loopback servers, real embedded Chroma."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.documents import HTML, drip, html_page, make_rag, serve, slow
from rag import Cancelled, RagError
from rag.embedding import Embedder
from rag.loaders.fetch import Fetcher, FetchError
from rag.settings import RagSettings

# The dripping server would take 600 s to send its body (one byte a second); every
# assertion on time below is a generous margin against that, not a speed figure.
GENEROUS_S = 60


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_server_dripping_a_byte_a_second_is_cut_at_the_deadline(headers_too: bool,
                                                                  tmp_path: Path) -> None:
    settings = RagSettings(data_dir=tmp_path, fetch_timeout=5, fetch_deadline=3)
    with drip(1.0, headers_too=headers_too) as base, Fetcher(settings) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            fetcher.get(f"{base}/slowly")
        took = time.monotonic() - started
    assert "took longer than 3s in all (RAG_FETCH_DEADLINE)" in str(caught.value)
    assert 2.5 < took < GENEROUS_S


def test_a_dripping_fetch_is_cut_for_untrusted_users_too(tmp_path: Path) -> None:
    settings = RagSettings(data_dir=tmp_path, fetch_timeout=5, fetch_deadline=2)
    with drip(1.0) as base, Fetcher(settings, allow_private=False,
                                    allow=["127.0.0.0/8"]) as fetcher, \
            pytest.raises(FetchError, match="RAG_FETCH_DEADLINE"):
        fetcher.get(f"{base}/slowly")


def test_a_huge_crawl_delay_is_capped_and_said(tmp_path: Path, embedder: Embedder) -> None:
    routes = {
        "/robots.txt": (200, {"Content-Type": "text/plain"},
                        b"User-agent: *\nCrawl-delay: 100000\n"),
        "/": (200, HTML, html_page("Home", "<p>Capybaras swim well.</p>", ["/two"])),
        "/two": (200, HTML, html_page("Two", "<p>Axolotls regrow limbs.</p>")),
    }
    rag = make_rag(tmp_path / "data", embedder, crawl_delay_max=0.2)
    with serve(routes) as base:
        summary = rag.ingest([f"{base}/"], "capped", crawl_depth=1)
    assert sorted(summary.added) == [f"{base}/", f"{base}/two"]
    notes = [f.reason for f in summary.skipped if f.source.endswith("/robots.txt")]
    assert notes == ["robots.txt asks for a Crawl-delay of 100000s; waited 0.2s between "
                     "pages instead (RAG_CRAWL_DELAY_MAX)"]


def test_a_crawl_stops_at_the_jobs_deadline(tmp_path: Path, embedder: Embedder) -> None:
    links = [f"/p{i}" for i in range(20)]
    routes = {"/": (200, HTML, html_page("Home", "<p>Index of slow pages.</p>", links))}
    for link in links:
        routes[link] = slow(1.0, (200, HTML, html_page(link, f"<p>Page {link}.</p>")))
    rag = make_rag(tmp_path / "data", embedder, job_deadline=2.5)
    with serve(routes) as base:
        summary = rag.ingest([f"{base}/"], "bounded", crawl_depth=1, max_pages=50)
    reasons = {f.reason for f in summary.skipped}
    assert any("RAG_JOB_DEADLINE" in r for r in reasons), reasons
    assert 1 <= len(summary.added) < len(links)


def test_a_running_ingestion_is_cancelled(tmp_path: Path, embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder, fetch_deadline=GENEROUS_S)
    cancel = threading.Event()
    with drip(1.0) as base:
        threading.Timer(1.5, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(Cancelled, match="cancelled"):
            rag.ingest([f"{base}/slowly"], "cancelled", cancel=cancel)
        assert time.monotonic() - started < GENEROUS_S / 2
    assert rag.documents("cancelled") == []


def test_a_collection_of_another_owner_is_refused_as_it_is_written(
        tmp_path: Path, embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder)
    notes = tmp_path / "alice.md"
    notes.write_text("# Alice\n\nAlice keeps the violet ferry's log.\n")
    theirs = tmp_path / "bob.md"
    theirs.write_text("# Bob\n\nBob's notes about the ferry.\n")
    rag.ingest([notes], "alice-docs", owner="alice")

    def bob_may_write(owner: str | None) -> bool:
        return owner == "bob"

    with pytest.raises(RagError, match="taken by another user; nothing was added"):
        rag.ingest([theirs], "alice-docs", owner="bob", may_write=bob_may_write)
    assert [d.source for d in rag.documents("alice-docs")] == [str(notes)]
    # Missing: created as Bob's, in the same step as recording him as its owner.
    rag.ingest([theirs], "bob-docs", owner="bob", may_write=bob_may_write)
    assert rag.collection("bob-docs").owner == "bob"
