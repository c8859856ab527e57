"""The Store: every collection of one Chroma, each opened once per process and checked
against the embedding model that built it; listing, access and deleting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import EllipsisType

import chromadb
import httpx
from chromadb.errors import InternalError, InvalidArgumentError, NotFoundError

from rag.errors import NoCollection, NotYours, StoreError
from rag.lexical import LexicalIndex
from rag.settings import RagSettings
from rag.store.chroma import connect
from rag.store.collection import Collection
from rag.store.records import CollectionInfo, access


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
                raise NoCollection(
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
        owner, _ = access(chroma.metadata)
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
        owner, shared = access(chroma.metadata)
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
