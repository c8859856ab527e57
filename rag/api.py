"""The `Rag` object: ingesting, retrieving and managing collections, over the store, the
embedding model, the loaders and retrieval. `rag` exports it, with the values it takes and
returns and the errors it raises (rag.errors).

A facade, and a little over 300 lines for it: each public method is a few lines that open
the collection, check who may write it and call one stage (ingest.py, retrieval.py,
store/); the work is in those modules. Keeping every entry point in one class is what lets
the chatbot use rag through `rag.__all__` alone."""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import httpx
from chromadb.errors import NotFoundError

from rag.documents import Document, Failure, Passage, Skipped, Summary
from rag.embedding import Embedder
from rag.errors import Cancelled, EmbeddingError, NoCollection, RagError, Stopped
from rag.evidence import Evidence, weigh
from rag.lexical import query_words
from rag.loaders.guard import UrlPolicy
from rag.retrieval import Explained, Mode, explain, search
from rag.settings import RagSettings
from rag.store import Collection, CollectionInfo, DocumentInfo, FailedSource, Store

if TYPE_CHECKING:
    from rag.ingest import ProgressCallback
    from rag.loaders.fetch import Fetcher

DEFAULT_COLLECTION = "default"


P = ParamSpec("P")
T = TypeVar("T")


def _check_owner(owner: str | None) -> None:
    if owner is not None and not owner.strip():
        raise RagError("an owner is a user name; it cannot be empty")


def _chroma_answers(method: Callable[P, T]) -> Callable[P, T]:
    """A Chroma server that stops answering mid-way (chromadb's HTTP client raises httpx's
    errors) is a RagError saying so, like one that was never there."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except httpx.TransportError as e:
            rag = args[0]
            assert isinstance(rag, Rag)
            raise RagError(f"Chroma at {rag.settings.chroma_url} does not answer "
                           f"({type(e).__name__}: {e or 'no answer'})") from None

    return wrapper


class Rag:
    """embedder: pass one to share a loaded model between several Rag objects."""

    def __init__(self, settings: RagSettings | None = None,
                 embedder: Embedder | None = None) -> None:
        self.settings = settings or RagSettings()
        self._lock = threading.RLock()
        if embedder is not None:
            self.__dict__["embedder"] = embedder  # fills the cached_property below

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder(self.settings)

    @cached_property
    def store(self) -> Store:
        return Store(self.settings)

    def close(self) -> None:
        """Let go of the lexical indexes, if the store was ever opened (closing must not
        connect to a Chroma server only to close it)."""
        opened = self.__dict__.get("store")
        if opened is not None:
            opened.close()

    def _open(self, collection: str, create: bool, owner: str | None = None,
              shared: bool = False,
              may_write: Callable[[str | None], bool] | None = None) -> Collection:
        # The lock makes the first call's lazy model and store loading happen once.
        with self._lock:
            return self.store.open(collection, self.embedder.name, self.embedder.dim,
                                   create=create, owner=owner, shared=shared,
                                   may_write=may_write)

    @_chroma_answers
    def ingest(
        self,
        sources: Iterable[str | Path],
        collection: str = DEFAULT_COLLECTION,
        *,
        crawl_depth: int | None = None,
        max_pages: int = 50,
        allow_private: bool = True,
        url_allowlist: Sequence[str] = (),
        progress: ProgressCallback | None = None,
        owner: str | None = None,
        shared: bool = False,
        may_write: Callable[[str | None], bool] | None = None,
        cancel: threading.Event | None = None,
        job_deadline: float | None | EllipsisType = ...,
    ) -> Summary:
        """Ingest URLs, files and folders. crawl_depth: follow same-host links from each URL
        that many levels deep. allow_private=False refuses URLs (and redirects) resolving to
        loopback or private addresses; pass it for URLs from untrusted users, with
        url_allowlist naming the non-public hosts or networks they may still reach.
        owner and shared are recorded when this call creates the collection; an existing
        one keeps its access (`set_access` changes it). may_write(owner), given, is asked
        as the collection is opened (created and its owner recorded in one step otherwise):
        False refuses the whole ingestion with a RagError, nothing written.
        Fetching stops after job_deadline seconds (`...`: RAG_JOB_DEADLINE; None: never, as
        for the operator's `rag ingest`), what is left being `skipped` with that reason;
        `cancel`, once set, stops the ingestion within about a second, raising Cancelled."""
        from rag.ingest import Ingestor, load_sources, prefetch

        _check_owner(owner)
        ingestor = Ingestor(self._open(collection, create=True, owner=owner, shared=shared,
                                       may_write=may_write),
                            self.embedder, self.settings, progress, cancel)
        if job_deadline is ...:
            job_deadline = self.settings.job_deadline
        with self._fetcher(allow_private, url_allowlist, cancel, job_deadline) as fetcher:
            skipped: list[Failure] = []
            loading = load_sources(sources, fetcher, self.settings, crawl_depth, max_pages,
                                   skipped)
            try:
                for item in prefetch(map(ingestor.chunk, loading)):
                    if cancel is not None and cancel.is_set():
                        raise Stopped("cancelled")
                    if isinstance(item, Skipped):
                        ingestor.skip(item)
                    elif isinstance(item, Failure):
                        ingestor.fail(item)
                    else:
                        ingestor.add(item)
                if cancel is not None and cancel.is_set():
                    raise Stopped("cancelled")
                ingestor.flush()
            except EmbeddingError as e:  # EMBED_URL stopped answering: nothing half-written
                raise RagError(f"{e}; sources not yet embedded were left as they were"
                               ) from None
            except Stopped:
                done = len(ingestor.summary.added) + len(ingestor.summary.replaced)
                raise Cancelled(f"cancelled; {done} document{'' if done == 1 else 's'} "
                                "added before that stay", ingestor.summary) from None
            ingestor.summary.skipped.extend(skipped)
        return ingestor.summary

    def check_url(self, url: str, *, allow_private: bool = True,
                  url_allowlist: Sequence[str] = ()) -> None:
        """Raises FetchError, its message the reason fit to show, when fetching `url` with
        these rules would be refused (not http(s), no host, a refused address): for refusing
        a URL before queueing work on it. Fetches check again as they connect."""
        UrlPolicy(allow_private, url_allowlist).check(url)

    def fetch_page(self, url: str, *, allow_private: bool = True,
                   url_allowlist: Sequence[str] = ()) -> Document | Failure:
        """One page (HTML, PDF, Markdown or text, by its served type), parsed as `ingest`
        parses it but not stored: for reading a page rather than adding it."""
        from rag.loaders.web import load_url

        with self._fetcher(allow_private, url_allowlist) as fetcher:
            return load_url(url, fetcher)

    def _fetcher(self, allow_private: bool, url_allowlist: Sequence[str],
                 cancel: threading.Event | None = None,
                 job_deadline: float | None = None) -> Fetcher:
        from rag.loaders.fetch import Fetcher

        return Fetcher(self.settings, allow_private=allow_private, allow=url_allowlist,
                       cancel=cancel, job_deadline=job_deadline)

    @_chroma_answers
    def retrieve(self, query: str, collection: str = DEFAULT_COLLECTION, k: int = 5,
                 mode: Mode = "hybrid") -> list[Passage]:
        opened = self._open(collection, create=False)
        try:
            return search(opened, self.embedder, query, k, mode)
        except (NotFoundError, sqlite3.ProgrammingError):
            # Deleted by another thread or process between opening and reading.
            raise RagError(f"collection {collection!r} was deleted") from None

    @_chroma_answers
    def explain(self, query: str, collection: str = DEFAULT_COLLECTION, k: int = 5,
                mode: Mode = "hybrid") -> list[Explained]:
        """`retrieve`'s passages, each with its lexical and vector rank: why it was chosen."""
        opened = self._open(collection, create=False)
        try:
            return explain(opened, self.embedder, query, k, mode)
        except (NotFoundError, sqlite3.ProgrammingError):
            raise RagError(f"collection {collection!r} was deleted") from None

    def weigh(self, question: str, passages: list[Passage]) -> list[Evidence]:
        """Each passage's sentences scored against `question` (rag.evidence)."""
        return weigh(self.embedder, question, passages)

    @_chroma_answers
    def unknown_words(self, collection: str, text: str) -> list[str]:
        """Uncommon words of `text` that the collection never uses: a sign that the text
        asks about something the documents are not about. Uncommon: the embedding model's
        vocabulary (its most frequent words and word pieces) has no single piece for it;
        words with digits (file names, versions, numbers) are left out."""
        words = [w for w in query_words(text) if w.isalpha() and len(w) > 2]
        if not words:
            return []
        try:
            absent = self._open(collection, create=False).lexical.absent(words)
        except (NotFoundError, sqlite3.ProgrammingError):
            raise RagError(f"collection {collection!r} was deleted") from None
        tokenizer = self.embedder.tokenizer
        return [w for w in absent if len(tokenizer.encode(w, add_special_tokens=False).ids) > 1]

    @_chroma_answers
    def neighbours(self, collection: str, passage: Passage) -> tuple[str, str]:
        """The text before and after `passage` in its document ("" where there is none)."""
        if not passage.chunk_id:
            return "", ""
        try:
            return self._open(collection, create=False).neighbours(passage.chunk_id)
        except (NotFoundError, sqlite3.ProgrammingError):
            raise RagError(f"collection {collection!r} was deleted") from None

    @_chroma_answers
    def note_not_read(self, collection: str, skipped: Iterable[Failure]) -> None:
        """Keep files that never reached ingestion (a caller's own checks: an upload of a
        kind not read) among the collection's sources never stored, with why
        (`failed_sources`); nothing when the collection does not exist."""
        from rag.ingest import now_utc

        try:
            opened = self._open(collection, create=False)
        except NoCollection:
            return
        for failure in skipped:
            opened.health.failed(failure.source, now_utc(), failure.reason)

    @_chroma_answers
    def document_passages(self, collection: str, source: str) -> list[Passage]:
        """Every passage of one document, in order (neighbouring passages overlap by
        RAG_CHUNK_OVERLAP): for reading a document whole. Raises RagError when the
        collection has no such source."""
        try:
            rows = self._open(collection, create=False).lexical.rows(source)
        except sqlite3.ProgrammingError:
            raise RagError(f"collection {collection!r} was deleted") from None
        if not rows:
            raise RagError(f"no document {source!r} in collection {collection!r}")
        return [Passage(r.text, r.source, r.title, r.page, 1.0,
                        tuple(h for h in r.headings.split(" > ") if h), r.id) for r in rows]

    @_chroma_answers
    def document_titles(self, collection: str) -> list[tuple[str, str]]:
        """(source, title) of each document of the collection, from the lexical index alone:
        cheaper than `documents`, which reads Chroma once per document."""
        try:
            return [(source, title)
                    for source, title, *_ in self._open(collection, create=False).lexical.sources()]
        except sqlite3.ProgrammingError:
            raise RagError(f"collection {collection!r} was deleted") from None

    def key_sentences(self, passages: list[Passage], count: int) -> list[tuple[Passage, str]]:
        """The `count` sentences that best stand for `passages` as a whole, in order, each
        with its passage: an extractive summary (rag.evidence.key_sentences)."""
        from rag.evidence import key_sentences

        return key_sentences(self.embedder, passages, count)

    @_chroma_answers
    def documents(self, collection: str = DEFAULT_COLLECTION) -> list[DocumentInfo]:
        """The collection's sources, by source."""
        opened = self._open(collection, create=False)
        try:
            return opened.documents()
        except (NotFoundError, sqlite3.ProgrammingError):
            raise RagError(f"collection {collection!r} was deleted") from None

    @_chroma_answers
    def failed_sources(self, collection: str = DEFAULT_COLLECTION) -> list[FailedSource]:
        """Sources whose ingestion failed and that were never stored, newest first (the
        newest 200): what went wrong after the ingest's summary is gone."""
        opened = self._open(collection, create=False)
        try:
            return opened.failed_sources()
        except sqlite3.ProgrammingError:
            raise RagError(f"collection {collection!r} was deleted") from None

    @_chroma_answers
    def remove_document(self, collection: str, source: str) -> int:
        """Remove one source's chunks (vectors and lexical rows); how many there were.
        Raises RagError when the collection has no such source."""
        opened = self._open(collection, create=False)
        try:
            removed = opened.remove_source(source)
        except (NotFoundError, sqlite3.ProgrammingError):
            raise RagError(f"collection {collection!r} was deleted") from None
        if not removed:
            raise RagError(f"no document {source!r} in collection {collection!r}; "
                           "`rag documents` lists them")
        return removed

    def refetch(self, collection: str, source: str, *, allow_private: bool = True,
                url_allowlist: Sequence[str] = (),
                progress: ProgressCallback | None = None,
                may_write: Callable[[str | None], bool] | None = None,
                cancel: threading.Event | None = None) -> Summary:
        """Fetch a URL source of the collection again: its chunks are replaced if the
        content changed (`replaced`), kept otherwise (`unchanged`); a failed fetch leaves
        them as they were (`failed`). Raises RagError for a source that is not a URL of
        this collection."""
        from rag.ingest import is_url

        if not is_url(source):
            raise RagError(f"{source!r} is not a URL: only URL sources can be fetched again "
                           "(`rag ingest` re-reads a file)")
        if not self._open(collection, create=False).source_state(source):
            raise RagError(f"no document {source!r} in collection {collection!r}; "
                           "`rag documents` lists them")
        return self.ingest([source], collection, allow_private=allow_private,
                           url_allowlist=url_allowlist, progress=progress,
                           may_write=may_write, cancel=cancel)

    @_chroma_answers
    def held(self, sources: Iterable[str], collections: Iterable[str] | None = None
             ) -> set[str]:
        """Those of `sources` some collection (of `collections`; None: any) still has a
        document of. A collection that cannot be read now is taken to hold them all: a file
        is never removed on a guess."""
        wanted = set(sources)
        found: set[str] = set()
        among = None if collections is None else set(collections)
        for info in self.store.collections():
            if among is not None and info.name not in among:
                continue
            try:
                opened = self._open(info.name, create=False)
                found |= {s for s in wanted - found if opened.source_state(s)}
            except (RagError, NotFoundError, sqlite3.ProgrammingError):
                return wanted
        return found

    @_chroma_answers
    def collections(self) -> list[CollectionInfo]:
        return self.store.collections()

    @_chroma_answers
    def collection(self, name: str) -> CollectionInfo:
        """One collection's counts and access, read afresh from Chroma."""
        return self.store.collection(name)

    @_chroma_answers
    def set_access(self, name: str, *, owner: str | None | EllipsisType = ...,
                   shared: bool | None = None) -> CollectionInfo:
        """Give the collection to `owner` (None: to no one, i.e. admins only) and/or share
        it with everyone or not; `...` and None leave that part as it is."""
        if owner is not ...:
            _check_owner(owner)
        return self.store.set_access(name, owner=owner, shared=shared)

    @_chroma_answers
    def delete(self, collection: str) -> None:
        self.store.delete(collection)

