"""Ingestion: sources -> documents -> chunks -> embeddings -> store, one source at a time,
idempotent per source."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from queue import Queue
from typing import TypeVar
from urllib.parse import urlsplit

import numpy as np

from rag.chunking import Chunker
from rag.documents import (
    Chunk,
    Document,
    Failure,
    Progress,
    ProgressEvent,
    ProgressStatus,
    Skipped,
    Summary,
)
from rag.embedding import Embedder
from rag.errors import Stopped
from rag.lexical import Row
from rag.loaders.fetch import Fetcher
from rag.loaders.files import load_path
from rag.loaders.ocr import OcrLimits, page_list
from rag.loaders.pdf import PdfDocument
from rag.loaders.web import Crawler, load_url
from rag.settings import RagSettings
from rag.store import Collection, NewChunk

ProgressCallback = Callable[[Progress], None]
T = TypeVar("T")

# Part of every document's hash: a change of chunking re-chunks unchanged sources.
_CHUNKING_VERSION = "1"


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def load_sources(
    sources: Iterable[str | Path],
    fetcher: Fetcher,
    settings: RagSettings,
    crawl_depth: int | None,
    max_pages: int,
    skipped: list[Failure],
) -> Iterator[Document | Failure]:
    for source in sources:
        text = str(source)
        if reason := fetcher.halted():  # cancelled or out of time: the rest is skipped
            skipped.append(Failure(text, reason))
            continue
        if not is_url(text):
            yield from load_path(Path(text), OcrLimits.of(settings))
        elif crawl_depth is None:
            yield load_url(text, fetcher)
        else:
            crawler = Crawler(fetcher, crawl_depth, max_pages, settings.crawl_delay)
            yield from crawler.crawl(text)
            skipped.extend(crawler.skipped)


def prefetch(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Run a loading iterator in a background thread, `depth` items ahead: fetching and
    parsing the next sources overlaps with embedding this one (the model releases the GIL)."""
    done = object()
    queue: Queue[object] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                queue.put(item)
        except BaseException as e:  # handed over to the consumer, raised there
            queue.put(_Raised(e))
        queue.put(done)

    threading.Thread(target=produce, daemon=True, name="rag-load").start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, _Raised):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while not queue.empty():  # unblock a producer waiting on a full queue
            queue.get_nowait()


@dataclass(frozen=True)
class _Raised:
    error: BaseException


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Ingestor:
    def __init__(self, collection: Collection, embedder: Embedder, settings: RagSettings,
                 progress: ProgressCallback | None,
                 cancel: threading.Event | None = None) -> None:
        self.collection = collection
        self.cancel = cancel
        self.embedder = embedder
        # Chunking runs in the loading thread while the model encodes, and other ingests may
        # chunk meanwhile: all share the model's tokenizer (safe, see Embedder.tokenizer).
        self.chunker = Chunker(
            embedder.tokenizer, embedder.max_tokens, settings.chunk_tokens,
            settings.chunk_overlap,
        )
        self.params = f"{_CHUNKING_VERSION}:{self.chunker.size}:{self.chunker.overlap}"
        self.progress = progress
        self.summary = Summary()
        self.documents_done = 0
        self.pending: list[_Pending] = []
        self.flush_at = settings.embed_batch_size * 8

    def _report(self, event: ProgressEvent, source: str, status: ProgressStatus,
                detail: str = "") -> None:
        if self.progress:
            self.progress(Progress(event, source, self.documents_done, self.summary.chunks,
                                   status, detail))

    def skip(self, skipped: Skipped) -> None:
        """A file not read (its kind, its size, no bytes): named, not counted as done, and
        kept among the collection's sources never stored, with why."""
        self.collection.health.failed(skipped.source, now_utc(), skipped.reason)
        self.summary.skipped.append(skipped)
        self._report("document", skipped.source, "skipped", skipped.reason)

    def fail(self, failure: Failure) -> None:
        self.collection.health.failed(failure.source, now_utc(), failure.reason)
        self.summary.failed.append(failure)
        self.documents_done += 1
        self._report("document", failure.source, "failed", failure.reason)

    def chunk(self, item: Document | Failure) -> Chunked | Failure:
        """The CPU work before embedding; thread-safe, so it can run ahead in the loader."""
        if isinstance(item, Failure):
            return item
        if not item.text.strip():
            return Failure(item.source, "empty document (no text)")
        doc_hash = _sha(f"{self.params}\n{item.title}\n" + "\n\f".join(
            f"{s.page}\n{' > '.join(s.headings)}\n{s.text}" for s in item.sections))
        return Chunked(item, doc_hash, self.chunker.split(item))

    def add(self, chunked: Chunked) -> None:
        """Embed and write the document with the next batch, unless it is unchanged."""
        doc, doc_hash, chunks = chunked.doc, chunked.doc_hash, chunked.chunks
        prefix = _sha(doc.source)[:16]
        ids = [f"{prefix}-{doc_hash[:16]}-{c.index}" for c in chunks]
        if any(p.source == doc.source for p in self.pending):
            self.flush()  # the same source twice in a run (e.g. two URLs redirecting to it)
        state = self.collection.source_state(doc.source)
        ocr_pages = frozenset(doc.ocr_pages) if isinstance(doc, PdfDocument) else frozenset()
        problem = ""
        if doc.unread:
            # Added all the same (the rest is worth having), but never reported as a plain
            # success: the summary names what was left out and why.
            done = ("added only the pages with text" if isinstance(doc, PdfDocument)
                    else "added in part")
            problem = f"{done}; {doc.unread}"
            self.summary.failed.append(Failure(doc.source, problem))
        if set(state) == set(ids) and all(live for _, live in state.values()):
            self.collection.health.stored(doc.source, now_utc(), changed=False, problem=problem)
            self.summary.unchanged.append(doc.source)
            self.documents_done += 1
            self._report("document", doc.source, "unchanged")
            return
        self.pending.append(_Pending(doc.source, doc_hash, ids, chunks, list(state), ocr_pages,
                                     problem))
        if sum(len(p.chunks) for p in self.pending) >= self.flush_at:
            self.flush()

    def flush(self) -> None:
        """Embed the pending documents' chunks in one call (the model sorts them by length,
        so batches pad less than per document), then write each document whole."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        # The chunker's word pieces go to the model as they are (no second tokenizing).
        tokens = [c.token_ids for p in pending for c in p.chunks]
        # Embedded shortest first across the whole flush, in steps for progress: each step
        # then holds chunks of similar length, so the model pads (and wastes) least.
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
        vectors: list[np.ndarray] = [np.empty(0)] * len(tokens)
        step = self.embedder.settings.embed_batch_size * 4
        for start in range(0, len(order), step):
            if self.cancel is not None and self.cancel.is_set():
                # Nothing of this flush is written: a document lands whole or not at all.
                raise Stopped("cancelled")
            batch = order[start : start + step]
            for i, vector in zip(batch, self.embedder.embed_ids([tokens[i] for i in batch]),
                                 strict=True):
                vectors[i] = vector
            self.summary.chunks += len(batch)
            self._report("chunks", pending[0].source, "embedding")
        now = now_utc()
        offset = 0
        for p in pending:
            new = [
                NewChunk(
                    Row(i, c.source, c.title, c.page, " > ".join(c.headings), c.context, c.text),
                    _sha(c.text), v, ocr=c.page in p.ocr_pages,
                )
                for i, c, v in zip(p.ids, p.chunks, vectors[offset:], strict=False)
            ]
            offset += len(p.chunks)
            self.collection.replace_source(p.source, p.doc_hash, new, now, p.old_ids)
            self.collection.health.stored(p.source, now, changed=True, problem=p.problem)
            (self.summary.replaced if p.old_ids else self.summary.added).append(p.source)
            self.documents_done += 1
            ocr = f", {page_list(p.ocr_pages)} read by OCR" if p.ocr_pages else ""
            self._report("document", p.source, "replaced" if p.old_ids else "added",
                         f"{len(new)} chunks{ocr}")


@dataclass(frozen=True)
class Chunked:
    doc: Document
    doc_hash: str
    chunks: list[Chunk]


@dataclass(frozen=True)
class _Pending:
    source: str
    doc_hash: str
    ids: list[str]
    chunks: list[Chunk]
    old_ids: list[str]
    ocr_pages: frozenset[int]
    problem: str  # kept in the source's health
