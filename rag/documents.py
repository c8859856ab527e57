"""The values rag hands between its stages and to its callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path (or one PDF page)."""

    text: str
    headings: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True)
class Document:
    """One source's extracted text, before chunking."""

    source: str  # URL or absolute path
    title: str
    sections: list[Section]
    # Why some of its content was left out (pages, sheets past a limit); "" when all was
    # read. The rest is still worth adding, but the user must hear about what is missing.
    unread: str = ""

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


@dataclass(frozen=True)
class Failure:
    """A source that could not be ingested, and why (for the summary, never a traceback)."""

    source: str
    reason: str


@dataclass(frozen=True)
class Skipped(Failure):
    """A file (or a folder with no files) that was not read, and why: its kind, its size, no
    bytes at all. Named in the summary so that nothing is left out silently, but not the
    file's error; a file that was read and failed is a plain Failure."""


@dataclass(frozen=True)
class Chunk:
    text: str
    source: str
    title: str
    headings: tuple[str, ...]
    page: int | None
    index: int
    context: str  # title and heading path, prefixed to the text for embedding and search
    # The model's word pieces of embedding_text(context, text), special tokens included: the
    # chunker has tokenized it to measure it, so the model need not do it again.
    token_ids: tuple[int, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class Passage:
    """One retrieval result."""

    text: str
    source: str
    title: str
    page: int | None
    score: float
    headings: tuple[str, ...] = ()
    chunk_id: str = ""  # the chunk's id in its collection (Rag.neighbours)

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "source": self.source,
            "title": self.title,
            "page": self.page,
            "score": round(self.score, 6),
        }


@dataclass
class Summary:
    """What an ingest run did, source by source."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    # Not errors: files not read (Skipped: kind, size, no bytes), pages a crawl left out
    # (robots.txt, --max-pages), sources a deadline or a cancel stopped.
    skipped: list[Failure] = field(default_factory=list)
    chunks: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def stored(self) -> int:
        """Sources the collection now holds from this run (added, replaced or unchanged)."""
        return len(self.added) + len(self.replaced) + len(self.unchanged)


ProgressEvent = Literal["document", "chunks"]
ProgressStatus = Literal["added", "replaced", "unchanged", "failed", "skipped", "embedding"]


@dataclass(frozen=True)
class Progress:
    """Sent to an ingest's progress callback after each source ("document") and each
    embedded batch ("chunks"); the counts are running totals for the whole run."""

    event: ProgressEvent
    source: str
    documents_done: int
    chunks_done: int
    status: ProgressStatus
    detail: str = ""
