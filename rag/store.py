"""Chroma (embedded under DATA_DIR, or a server at CHROMA_URL) plus the lexical index, kept
consistent: every write goes to both, in an order that never shows half a source."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from types import EllipsisType
from typing import Literal
from urllib.parse import urlsplit

import chromadb
import httpx
import numpy as np
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import InternalError, InvalidArgumentError, NotFoundError

from rag.errors import NoCollection, NotYours, StoreError
from rag.lexical import LexicalIndex, Row
from rag.settings import RagSettings

# Chroma caps one call's batch; stay well under it.
_BATCH = 1000


@dataclass(frozen=True)
class CollectionInfo:
    """owner: the user name the collection belongs to; None means no owner (the operator's,
    for admins only). shared: readable by everyone, whoever owns it."""

    name: str
    chunks: int
    documents: int
    model: str
    owner: str | None = None
    shared: bool = False


DocumentKind = Literal["pdf", "html", "markdown", "text", "url"]
_KINDS: dict[str, DocumentKind] = {".pdf": "pdf", ".html": "html", ".htm": "html",
                                   ".md": "markdown", ".markdown": "markdown"}


def document_kind(source: str) -> DocumentKind:
    if urlsplit(source).scheme in ("http", "https"):
        return "url"
    return _KINDS.get(PurePath(source).suffix.lower(), "text")


@dataclass(frozen=True)
class DocumentInfo:
    """One source of a collection. added: when its current version was stored (ISO 8601,
    UTC). ocr_pages: the pages whose text came from OCR."""

    source: str
    title: str
    kind: DocumentKind
    chunks: int
    added: str
    ocr_pages: tuple[int, ...] = ()


@dataclass(frozen=True)
class Hit:
    id: str
    row: Row
    score: float


def connect(settings: RagSettings) -> chromadb.ClientAPI:
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlsplit(settings.chroma_url)
        if not url.hostname:
            raise StoreError(f"CHROMA_URL={settings.chroma_url!r} is not a URL")
        https = url.scheme == "https"
        try:
            return chromadb.HttpClient(
                host=url.hostname, port=url.port or (443 if https else 8000), ssl=https,
                settings=chroma_settings,
            )
        except Exception as e:  # chromadb raises plain Exception/ValueError when unreachable
            raise StoreError(f"cannot reach Chroma at {settings.chroma_url}: {e}") from None
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


def _metadata(row: Row, doc_hash: str, content_hash: str, ingested_at: str, live: bool,
              ocr: bool) -> dict:
    # The text is metadata, not a Chroma "document": Chroma indexes documents for its own
    # substring search (which nothing here uses; BM25 is in the lexical index), and that
    # indexing cost more CPU than writing everything else.
    meta = {
        "text": row.text,
        "source": row.source,
        "title": row.title,
        "headings": row.headings,
        "context": row.context,
        "doc_hash": doc_hash,
        "content_hash": content_hash,
        "ingested_at": ingested_at,
        "live": live,
    }
    if row.page is not None:
        meta["page"] = row.page  # Chroma metadata has no null
    if ocr:
        meta["ocr"] = True
    return meta


def _row(chunk_id: str, document: str | None, meta: dict) -> Row:
    # Collections written before the text moved into the metadata keep it as the document.
    text = meta.get("text", document or "")
    return Row(
        chunk_id, meta["source"], meta["title"], meta.get("page"), meta["headings"],
        meta["context"], text,
    )


def _access(metadata: Mapping[str, object] | None) -> tuple[str | None, bool]:
    """(owner, shared) as a collection's Chroma metadata records them."""
    metadata = metadata or {}
    owner = metadata.get("owner")
    # Only a true boolean shares: a stray "no" written by another tool must not open it up.
    return (None if owner is None else str(owner)), metadata.get("shared") is True


@dataclass(frozen=True)
class NewChunk:
    row: Row
    content_hash: str
    embedding: np.ndarray
    ocr: bool = False  # its text was read from a page image, and may hold misread words


class Collection:
    """One named collection: Chroma vectors and the FTS rows, for one embedding model."""

    def __init__(self, chroma: chromadb.Collection, lexical: LexicalIndex) -> None:
        self.chroma = chroma
        self.lexical = lexical

    @property
    def model(self) -> str:
        return str((self.chroma.metadata or {}).get("embed_model", "?"))

    def source_state(self, source: str) -> dict[str, tuple[str, bool]]:
        """id -> (doc_hash, live) of the chunks stored for source."""
        got = self.chroma.get(where={"source": source}, include=["metadatas"])
        return {
            i: (str(m.get("doc_hash")), bool(m.get("live")))
            for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)
        }

    def replace_source(
        self, source: str, doc_hash: str, chunks: Sequence[NewChunk], ingested_at: str,
        old_ids: Sequence[str],
    ) -> None:
        """A reader (or a crash) sees the old version, nothing, or the new version; never a mix.

        A new source that fits one Chroma write is written visible at once: one write is one
        insert into Chroma's log, all or nothing. Otherwise the new chunks are written hidden,
        the old ones dropped, then the new ones shown."""
        ids = [c.row.id for c in chunks]
        at_once = not old_ids and len(chunks) <= _BATCH
        for start in range(0, len(chunks), _BATCH):
            part = chunks[start : start + _BATCH]
            self.chroma.upsert(
                ids=[c.row.id for c in part],
                embeddings=np.stack([c.embedding for c in part]),
                metadatas=[_metadata(c.row, doc_hash, c.content_hash, ingested_at, at_once,
                                     c.ocr) for c in part],
            )
        # A crash between the Chroma and the lexical write leaves their counts unequal,
        # which makes the next open rebuild the lexical index from Chroma.
        self.lexical.add((c.row for c in chunks), live=at_once)
        if at_once:
            return
        stale = [i for i in old_ids if i not in set(ids)]
        for start in range(0, len(stale), _BATCH):
            self.chroma.delete(ids=stale[start : start + _BATCH])
        self.lexical.delete(stale)
        for start in range(0, len(chunks), _BATCH):
            part = chunks[start : start + _BATCH]
            # Chroma merges updated metadata into the stored one: only the flag is sent.
            self.chroma.update(ids=[c.row.id for c in part],
                               metadatas=[{"live": True} for _ in part])
        self.lexical.set_live(ids)

    def remove_source(self, source: str) -> int:
        """Drop every chunk of `source`; how many there were (0: not in this collection)."""
        ids = list(self.source_state(source))
        # Lexical rows first, in one transaction: a crash before the Chroma deletes finish
        # leaves the counts unequal, and the next open rebuilds the lexical index from
        # Chroma, so the document comes back whole (to be removed again), never half.
        self.lexical.delete(ids)
        for start in range(0, len(ids), _BATCH):
            self.chroma.delete(ids=ids[start : start + _BATCH])
        return len(ids)

    def documents(self) -> list[DocumentInfo]:
        """Every shown source, by source: counts from the lexical index, the rest from one
        chunk of each in Chroma (the chunks' text is never read)."""
        found = []
        for source, title, chunks in self.lexical.sources():
            first = self.chroma.get(where={"source": source}, limit=1, include=["metadatas"])
            metas = first["metadatas"] or [{}]
            kind = document_kind(source)
            ocr_pages: tuple[int, ...] = ()
            if kind in ("pdf", "url"):
                ocr = self.chroma.get(where={"$and": [{"source": source}, {"ocr": True}]},
                                      include=["metadatas"])
                ocr_pages = tuple(sorted({int(m["page"]) for m in ocr["metadatas"] or []
                                          if isinstance(m.get("page"), int)}))
            found.append(DocumentInfo(source, title, kind, chunks,
                                      str(metas[0].get("ingested_at", "")), ocr_pages))
        return found

    def vector_search(self, embedding: np.ndarray, limit: int) -> list[Hit]:
        got = self.chroma.query(
            query_embeddings=[embedding], n_results=limit,
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for i, text, meta, distance in zip(
            got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0],
            strict=True,
        ):
            # Hidden chunks belong to a write in progress (or an interrupted one).
            if meta.get("live"):
                hits.append(Hit(i, _row(i, text, meta), 1.0 - float(distance)))
        return hits

    def neighbours(self, chunk_id: str) -> tuple[str, str]:
        """The text of the chunks before and after `chunk_id` in its document ("" where
        there is none). Chunk ids end with the chunk's index in its document."""
        stem, _, index = chunk_id.rpartition("-")
        if not stem or not index.isdigit():
            return "", ""
        before, after = f"{stem}-{int(index) - 1}", f"{stem}-{int(index) + 1}"
        found = self.lexical.texts([before, after])
        return found.get(before, ""), found.get(after, "")

    def lexical_search(self, query: str, limit: int) -> list[Hit]:
        return [Hit(row.id, row, score) for row, score in self.lexical.search(query, limit)]

    def _all(self) -> Iterator[tuple[str, str, dict]]:
        offset = 0
        while True:
            got = self.chroma.get(
                include=["documents", "metadatas"], limit=_BATCH, offset=offset
            )
            if not got["ids"]:
                return
            yield from zip(got["ids"], got["documents"], got["metadatas"], strict=True)
            offset += len(got["ids"])

    def sync_lexical(self) -> bool:
        """Rebuild the lexical index from Chroma when they disagree (a crash between the two
        writes, another machine writing to a shared Chroma server, a collection deleted and
        made anew elsewhere). True if it rebuilt."""
        chroma_id = str(self.chroma.id)
        if (self.lexical.get_meta("chroma_id") == chroma_id
                and self.lexical.count() == self.chroma.count()):
            return False
        self.lexical.clear()
        rows_live: dict[bool, list[Row]] = {True: [], False: []}
        for i, text, meta in self._all():
            rows_live[bool(meta.get("live"))].append(_row(i, text, meta))
        for live, rows in rows_live.items():
            self.lexical.add(rows, live=live)
        self.lexical.set_meta("chroma_id", chroma_id)
        return True


def _mismatch(name: str, built_with: object, model: str) -> str:
    return (
        f"collection {name!r} was built with embedding model {built_with!r}, not {model!r}: "
        "set EMBED_MODEL to match, or use another collection"
    )


class Store:
    def __init__(self, settings: RagSettings) -> None:
        self.settings = settings
        self.client = connect(settings)
        self._lexical: dict[str, LexicalIndex] = {}
        # Opened (and checked) once per process: a query then costs no extra round trips.
        self._opened: dict[str, Collection] = {}
        # Opening, listing and deleting take turns: a listing must not reopen the lexical
        # index of a collection being deleted, nor read one being closed.
        self._lock = threading.RLock()

    def _lexical_index(self, name: str) -> LexicalIndex:
        if name not in self._lexical:
            self._lexical[name] = LexicalIndex(self.settings.lexical_dir / f"{name}.sqlite3")
        return self._lexical[name]

    def open(self, name: str, model: str, dim: int, *, create: bool, owner: str | None = None,
             shared: bool = False,
             may_write: Callable[[str | None], bool] | None = None) -> Collection:
        """The collection, checked against the embedding model that built it. owner and
        shared are recorded only when this call creates it. may_write(owner): asked, with the
        owner recorded in Chroma at this moment, about a collection this call did not
        create; False raises NotYours (creating one and recording its owner is one step, so
        a name is never taken between a check and the write)."""
        with self._lock:
            return self._open(name, model, dim, create=create, owner=owner, shared=shared,
                              may_write=may_write)

    def _open(self, name: str, model: str, dim: int, *, create: bool, owner: str | None,
              shared: bool, may_write: Callable[[str | None], bool] | None) -> Collection:
        opened = self._opened.get(name)
        if opened is not None:
            if opened.model != model:
                raise StoreError(_mismatch(name, opened.model, model))
            if may_write is not None:
                # The owner as Chroma has it now, not as when this process opened it.
                self._check_owner(self._get(name), may_write)
            return opened
        try:
            chroma = self.client.get_collection(name, embedding_function=None)
            if may_write is not None:
                self._check_owner(chroma, may_write)
        except InvalidArgumentError as e:
            raise StoreError(f"invalid collection name {name!r}: {e}") from None
        except (NotFoundError, ValueError):
            if not create:
                raise StoreError(
                    f"no collection {name!r}; `rag collections` lists them, "
                    "`rag ingest` creates one"
                ) from None
            metadata: dict[str, str | int | bool] = {"embed_model": model, "embed_dim": dim}
            if owner is not None:
                metadata["owner"] = owner
            if shared:
                metadata["shared"] = True
            try:
                chroma = self.client.create_collection(
                    name,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata=metadata,
                    embedding_function=None,
                )
            except (InvalidArgumentError, ValueError) as e:
                raise StoreError(f"invalid collection name {name!r}: {e}") from None
            except InternalError:
                # Created meanwhile by another process sharing the Chroma server: theirs
                # unless `may_write` says otherwise.
                chroma = self._get(name)
                if may_write is not None:
                    self._check_owner(chroma, may_write)
        built_with = (chroma.metadata or {}).get("embed_model")
        if built_with != model:
            raise StoreError(_mismatch(name, built_with, model))
        collection = Collection(chroma, self._lexical_index(name))
        collection.sync_lexical()
        self._opened[name] = collection
        return collection

    @staticmethod
    def _check_owner(chroma: chromadb.Collection,
                     may_write: Callable[[str | None], bool]) -> None:
        owner, _ = _access(chroma.metadata)
        if not may_write(owner):
            raise NotYours(f"the collection name {chroma.name!r} is taken by another user; "
                           "nothing was added to it (choose another name)")

    def _info(self, chroma: chromadb.Collection) -> CollectionInfo:
        """Raises NotFoundError if another process sharing the Chroma server deleted it."""
        # One opened here is kept in step by this process's own writes: syncing it in the
        # middle of an ingestion would see the counts apart and rebuild it.
        opened = self._opened.get(chroma.name)
        collection = opened or Collection(chroma, self._lexical_index(chroma.name))
        if opened is None:
            collection.sync_lexical()
        chunks = chroma.count()
        # Access comes from the metadata just fetched, never from an opened collection's:
        # another process (`rag access`, another chat instance) may have changed it since.
        owner, shared = _access(chroma.metadata)
        return CollectionInfo(chroma.name, chunks, collection.lexical.documents(),
                              collection.model, owner, shared)

    def _get(self, name: str) -> chromadb.Collection:
        try:
            return self.client.get_collection(name, embedding_function=None)
        except (NotFoundError, InvalidArgumentError, ValueError):
            raise NoCollection(f"no collection {name!r}") from None

    def collections(self) -> list[CollectionInfo]:
        infos = []
        with self._lock:
            for chroma in sorted(self.client.list_collections(), key=lambda c: c.name):
                try:
                    infos.append(self._info(chroma))
                except NotFoundError:
                    continue  # deleted meanwhile by another process sharing the Chroma server
        return infos

    def collection(self, name: str) -> CollectionInfo:
        with self._lock:
            try:
                return self._info(self._get(name))
            except NotFoundError:
                raise NoCollection(f"no collection {name!r}") from None

    def set_access(self, name: str, *, owner: str | None | EllipsisType = ...,
                   shared: bool | None = None) -> CollectionInfo:
        """Change the owner (None: no owner) and/or the shared flag; `...` and None leave
        them as they are. Every other metadata key is kept."""
        with self._lock:
            chroma = self._get(name)
            # Chroma's modify replaces the whole metadata (a None value drops its key in
            # storage, but stays as None in the client's copy), so the rest is sent back
            # unchanged and a removed owner is left out rather than set to None.
            metadata = dict(chroma.metadata or {})
            if owner is None:
                metadata.pop("owner", None)
            elif owner is not ...:
                metadata["owner"] = owner
            if shared is not None:
                metadata["shared"] = shared
            # Never empty then (modify refuses an empty metadata), even with no owner left on
            # a collection that had nothing else.
            metadata.setdefault("shared", False)
            try:
                chroma.modify(metadata=metadata)
            except NotFoundError:
                raise StoreError(f"no collection {name!r}") from None
            except ValueError as e:  # e.g. an "hnsw:space" key, from a collection made elsewhere
                raise StoreError(f"cannot change the access of collection {name!r}: {e}"
                                 ) from None
            return self.collection(name)

    def delete(self, name: str) -> None:
        with self._lock:
            try:
                self.client.delete_collection(name)
            except (NotFoundError, InvalidArgumentError, ValueError):
                raise StoreError(f"no collection {name!r}") from None
            self._opened.pop(name, None)
            index = self._lexical.pop(name, None)
            if index:
                index.close()
            for suffix in ("", "-wal", "-shm"):
                (self.settings.lexical_dir / f"{name}.sqlite3{suffix}").unlink(missing_ok=True)

    def heartbeat(self, timeout: float) -> None:
        """Raises StoreError, saying why, unless Chroma answers within `timeout` seconds: a
        server's heartbeat endpoint (asked directly, since chromadb's own client never times
        out), or the embedded database's."""
        url = self.settings.chroma_url
        try:
            if url:
                httpx.get(f"{url.rstrip('/')}/api/v2/heartbeat", timeout=timeout
                          ).raise_for_status()
            else:
                self.client.heartbeat()
        except Exception as e:  # chromadb raises plain Exception/ValueError
            raise StoreError(f"Chroma at {url or self.settings.chroma_path} does not "
                             f"answer: {e or type(e).__name__}") from None

    def close(self) -> None:
        with self._lock:
            for index in self._lexical.values():
                index.close()
            self._lexical.clear()
            self._opened.clear()


