"""The user's documents as the chat app reaches them: one `Rag`, with the rules for URLs
that come from users, and the folder where uploaded files are kept.

Every URL here comes from a user (a link to summarize, a page to add), so every fetch obeys
the same rules, built once: no loopback, private, link-local or metadata address (checked
after DNS and on every redirect) except the hosts and networks of RAG_URL_ALLOWLIST.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlsplit

from chatbot.accounts.viewer import Viewer
from chatbot.documents.upload_store import uploads_folder
from chatbot.settings import Settings
from rag import (
    CollectionInfo,
    Document,
    DocumentInfo,
    Evidence,
    Explained,
    Failure,
    NoCollection,
    Passage,
    Progress,
    Rag,
    RagError,
    RagSettings,
    Summary,
)

log = logging.getLogger("chatbot.documents.library")


class UrlRules(TypedDict):
    """rag's keyword arguments for fetching what an untrusted user asked for."""

    allow_private: bool
    url_allowlist: Sequence[str]


def display_name(source: str) -> str:
    """How the page names a source: a URL as it is, a file by its name (never its path)."""
    return source if urlsplit(source).scheme in ("http", "https") else Path(source).name


# A conversation's attached files are a collection of its own: shown on its messages rather
# than listed among the user's collections, and deleted with the conversation.
ATTACHMENTS_PREFIX = "chat-"


def attachments_collection(conversation_id: str) -> str:
    return f"{ATTACHMENTS_PREFIX}{conversation_id}"


def conversation_of(collection: str) -> str | None:
    """The conversation whose attachments `collection` holds; None for any other."""
    return collection.removeprefix(ATTACHMENTS_PREFIX) if collection.startswith(
        ATTACHMENTS_PREFIX) else None


def document_id(source: str) -> str:
    """How the page names a document: the source itself would show server paths."""
    return hashlib.sha256(source.encode()).hexdigest()[:24]


class Library:
    @classmethod
    def open(cls, settings: Settings) -> Library:
        """The chat's library over DATA_DIR's documents (nothing is opened until used)."""
        return cls(settings, Rag(RagSettings(data_dir=settings.data_dir)))

    def __init__(self, settings: Settings, rag: Rag):
        self.rag = rag
        self.url_rules = UrlRules(allow_private=False, url_allowlist=tuple(settings.url_allowlist))
        self.uploads_dir = uploads_folder(settings.data_dir)
        self._warm_up_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-warm-up")
        self._warming: Future[None] | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the embedding model in the background, once, so that the first grounded
        question does not pay for it (called when RAG is turned on or a document arrives)."""
        with self._lock:
            if self._warming is None:
                self._warming = self._warm_up_pool.submit(self._load_model)

    def _load_model(self) -> None:
        try:
            self.rag.embedder.embed(["warm up"])
        except Exception:
            log.exception("could not load the embedding model")

    def collections(self, viewer: Viewer) -> list[dict[str, Any]]:
        """Those `viewer` may read, but for conversations' attachments. Raises RagError
        with a readable reason when the store cannot be reached."""
        return [{"name": c.name, "chunks": c.chunks, "documents": c.documents,
                 "owner": c.owner, "shared": c.shared, "yours": viewer.can_change(c.owner)}
                for c in self.rag.collections() if viewer.can_read(c.owner, c.shared)
                and conversation_of(c.name) is None]

    def readable(self, viewer: Viewer) -> set[str]:
        return {c.name for c in self.rag.collections() if viewer.can_read(c.owner, c.shared)}

    def find(self, name: str, viewer: Viewer) -> CollectionInfo | None:
        """The collection if it exists and `viewer` may read it: another user's private
        collection is as absent as one that never existed."""
        try:
            info = self.rag.collection(name)
        except NoCollection:
            return None
        return info if viewer.can_read(info.owner, info.shared) else None

    def retrieve(self, query: str, collection: str, k: int, viewer: Viewer) -> list[Passage]:
        if self.find(collection, viewer) is None:
            raise RagError(f"no collection {collection!r}")
        return self.rag.retrieve(query, collection, k)

    def explain(self, query: str, collection: str, k: int, viewer: Viewer) -> list[Explained]:
        """`retrieve`'s passages with their lexical and vector ranks (the debug view)."""
        if self.find(collection, viewer) is None:
            raise RagError(f"no collection {collection!r}")
        return self.rag.explain(query, collection, k)

    def weigh(self, question: str, passages: list[Passage]) -> list[Evidence]:
        """The passages' sentences scored against the question (rag.evidence)."""
        return self.rag.weigh(question, passages)

    def unknown_words(self, collection: str, text: str) -> list[str]:
        """Uncommon words of `text` the collection never uses (just searched, so readable)."""
        return self.rag.unknown_words(collection, text)

    def neighbours(self, collection: str, passage: Passage) -> tuple[str, str]:
        """The text around a passage just retrieved (so readable); ("", "") if it is gone."""
        try:
            return self.rag.neighbours(collection, passage)
        except RagError:
            return "", ""

    def documents(self, collection: str) -> list[DocumentInfo]:
        """The caller has checked that the collection may be read."""
        return self.rag.documents(collection)

    def link(self, source: str) -> str | None:
        """Where the page can open a document: a URL itself, an uploaded file where we
        serve it; None for a file on the server's disk (never served)."""
        if urlsplit(source).scheme in ("http", "https"):
            return source
        path = Path(source)
        if path.is_absolute() and path.parent.parent == self.uploads_dir:
            return f"/files/{path.parent.name}"
        return None

    def remove_document(self, collection: str, source: str) -> int:
        return self.rag.remove_document(collection, source)

    def refetch(self, collection: str, source: str, progress: Callable[[Progress], None], *,
                may_write: Callable[[str | None], bool] | None = None,
                cancel: threading.Event | None = None) -> Summary:
        return self.rag.refetch(collection, source, progress=progress, may_write=may_write,
                                cancel=cancel, **self.url_rules)

    def delete(self, collection: str) -> None:
        self.rag.delete(collection)

    def share(self, collection: str, shared: bool) -> None:
        self.rag.set_access(collection, shared=shared)

    def check_url(self, url: str) -> None:
        """Raises FetchError (its message the reason) when the URL would be refused."""
        self.rag.check_url(url, **self.url_rules)

    def fetch_page(self, url: str) -> Document | Failure:
        return self.rag.fetch_page(url, **self.url_rules)

    def ingest(self, sources: list[str], collection: str, *, owner: str | None,
               crawl_depth: int | None, max_pages: int,
               progress: Callable[[Progress], None],
               may_write: Callable[[str | None], bool] | None = None,
               cancel: threading.Event | None = None) -> Summary:
        """`owner`: recorded on the collection if this creates it; `may_write(owner)`:
        asked about an existing one as it is opened for writing (False: refused)."""
        return self.rag.ingest(sources, collection, owner=owner, crawl_depth=crawl_depth,
                               max_pages=max_pages, progress=progress, may_write=may_write,
                               cancel=cancel, **self.url_rules)
