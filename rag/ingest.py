"""Ingestion: sources -> documents -> chunks -> embeddings -> store, one source at a time,
idempotent per source."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from rag.chunking import Chunker, embedding_text
from rag.documents import (
    Document,
    Failure,
    Progress,
    ProgressEvent,
    ProgressStatus,
    Summary,
)
from rag.embedding import Embedder
from rag.lexical import Row
from rag.loaders.fetch import Fetcher
from rag.loaders.files import load_path
from rag.loaders.web import Crawler, load_url
from rag.settings import RagSettings
from rag.store import Collection, NewChunk

ProgressCallback = Callable[[Progress], None]

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
        if not is_url(text):
            yield from load_path(Path(text))
        elif crawl_depth is None:
            yield load_url(text, fetcher)
        else:
            crawler = Crawler(fetcher, crawl_depth, max_pages, settings.crawl_delay)
            yield from crawler.crawl(text)
            skipped.extend(crawler.skipped)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Ingestor:
    def __init__(self, collection: Collection, embedder: Embedder, settings: RagSettings,
                 progress: ProgressCallback | None) -> None:
        self.collection = collection
        self.embedder = embedder
        self.chunker = Chunker(
            embedder.tokenizer, embedder.max_tokens, settings.chunk_tokens, settings.chunk_overlap
        )
        self.params = f"{_CHUNKING_VERSION}:{self.chunker.size}:{self.chunker.overlap}"
        self.progress = progress
        self.summary = Summary()
        self.documents_done = 0

    def _report(self, event: ProgressEvent, source: str, status: ProgressStatus,
                detail: str = "") -> None:
        if self.progress:
            self.progress(Progress(event, source, self.documents_done, self.summary.chunks,
                                   status, detail))

    def fail(self, failure: Failure) -> None:
        self.summary.failed.append(failure)
        self.documents_done += 1
        self._report("document", failure.source, "failed", failure.reason)

    def add(self, doc: Document) -> None:
        if not doc.text.strip():
            self.fail(Failure(doc.source, "empty document (no text)"))
            return
        doc_hash = _sha(f"{self.params}\n{doc.title}\n" + "\n\f".join(
            f"{s.page}\n{' > '.join(s.headings)}\n{s.text}" for s in doc.sections))
        chunks = self.chunker.split(doc)
        prefix = _sha(doc.source)[:16]
        ids = [f"{prefix}-{doc_hash[:16]}-{c.index}" for c in chunks]
        state = self.collection.source_state(doc.source)
        if set(state) == set(ids) and all(live for _, live in state.values()):
            self.summary.unchanged.append(doc.source)
            self.documents_done += 1
            self._report("document", doc.source, "unchanged")
            return
        texts = [embedding_text(c.context, c.text) for c in chunks]
        vectors = []
        batch = self.embedder.settings.embed_batch_size * 4
        for start in range(0, len(texts), batch):
            vectors.extend(self.embedder.embed(texts[start : start + batch]))
            self.summary.chunks += len(texts[start : start + batch])
            self._report("chunks", doc.source, "embedding")
        new = [
            NewChunk(
                Row(i, c.source, c.title, c.page, " > ".join(c.headings), c.context, c.text),
                _sha(c.text), v,
            )
            for i, c, v in zip(ids, chunks, vectors, strict=True)
        ]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self.collection.replace_source(doc.source, doc_hash, new, now, list(state))
        status = "replaced" if state else "added"
        (self.summary.replaced if state else self.summary.added).append(doc.source)
        self.documents_done += 1
        self._report("document", doc.source, status, f"{len(new)} chunks")
