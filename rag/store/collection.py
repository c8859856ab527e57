"""One collection: its Chroma vectors and its lexical rows, written so that a reader never
sees half a source, and read back for search, listing and rebuilding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import chromadb
import numpy as np

from rag.lexical import LexicalIndex, Row
from rag.store.chroma import BATCH, chunk_metadata, stored_row
from rag.store.health import Health, HealthLog
from rag.store.records import DocumentInfo, FailedSource, document_kind


@dataclass(frozen=True)
class Hit:
    id: str
    row: Row
    score: float


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
        self.health = HealthLog(lexical)

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
        at_once = not old_ids and len(chunks) <= BATCH
        for start in range(0, len(chunks), BATCH):
            part = chunks[start : start + BATCH]
            self.chroma.upsert(
                ids=[c.row.id for c in part],
                embeddings=np.stack([c.embedding for c in part]),
                metadatas=[chunk_metadata(c.row, doc_hash, c.content_hash, ingested_at,
                                          at_once, c.ocr) for c in part],
            )
        # A crash between the Chroma and the lexical write leaves their counts unequal,
        # which makes the next open rebuild the lexical index from Chroma.
        self.lexical.add((c.row for c in chunks), live=at_once)
        if at_once:
            return
        stale = [i for i in old_ids if i not in set(ids)]
        for start in range(0, len(stale), BATCH):
            self.chroma.delete(ids=stale[start : start + BATCH])
        self.lexical.delete(stale)
        for start in range(0, len(chunks), BATCH):
            part = chunks[start : start + BATCH]
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
        for start in range(0, len(ids), BATCH):
            self.chroma.delete(ids=ids[start : start + BATCH])
        self.health.forget(source)
        return len(ids)

    def documents(self) -> list[DocumentInfo]:
        """Every shown source, by source: counts from the lexical index, the rest from one
        chunk of each in Chroma (the chunks' text is never read), and its health."""
        found = []
        health = self.health.all()
        for source, title, chunks, last_page in self.lexical.sources():
            first = self.chroma.get(where={"source": source}, limit=1, include=["metadatas"])
            metas = first["metadatas"] or [{}]
            kind = document_kind(source)
            ocr_pages: tuple[int, ...] = ()
            if kind in ("pdf", "url"):
                ocr = self.chroma.get(where={"$and": [{"source": source}, {"ocr": True}]},
                                      include=["metadatas"])
                ocr_pages = tuple(sorted({int(m["page"]) for m in ocr["metadatas"] or []
                                          if isinstance(m.get("page"), int)}))
            added = str(metas[0].get("ingested_at", ""))
            # No row: stored before health was recorded, or the index was rebuilt.
            known = health.get(source) or Health(added, added, added, "")
            found.append(DocumentInfo(source, title, kind, chunks, added, ocr_pages,
                                      first_added=known.added or added,
                                      checked=known.checked, problem=known.problem,
                                      pages=last_page))
        return found

    def failed_sources(self) -> list[FailedSource]:
        """The sources that failed and were never stored, newest first."""
        unstored = [FailedSource(source, h.problem, h.checked)
                    for source, h in self.health.all().items() if h.added is None]
        return sorted(unstored, key=lambda f: f.checked, reverse=True)

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
                hits.append(Hit(i, stored_row(i, text, meta), 1.0 - float(distance)))
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
                include=["documents", "metadatas"], limit=BATCH, offset=offset
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
            rows_live[bool(meta.get("live"))].append(stored_row(i, text, meta))
        for live, rows in rows_live.items():
            self.lexical.add(rows, live=live)
        self.lexical.set_meta("chroma_id", chroma_id)
        return True
