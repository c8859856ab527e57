"""Full-text (BM25) index of one collection's chunks: SQLite FTS5, one file per collection
under DATA_DIR/lexical, mirroring the Chroma collection chunk for chunk.

Chroma's own `where_document` is a boolean filter, not a ranking, so BM25 lives here. The file
is local even with a Chroma server; it is rebuilt from Chroma whenever their counts differ."""

from __future__ import annotations

import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    page INTEGER,
    headings TEXT NOT NULL,
    context TEXT NOT NULL,
    text TEXT NOT NULL,
    live INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- No stemming: query terms are looked up in the vocabulary as they are tokenized here, and
-- the vector side already matches word forms; '_' kept so snake_case identifiers stay whole.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    body, content='', tokenize="unicode61 remove_diacritics 2 tokenchars '_'"
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, row);
"""

# Dropped from queries: they match nearly every chunk, cost time and add nothing to BM25.
_STOPWORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "i", "in", "is", "it", "of", "on", "or", "that", "the", "this", "to", "what", "when",
    "where", "which", "who", "why", "with", "you", "your",
])
_WORD = re.compile(r"\w+", re.UNICODE)
# FTS5 scores every chunk holding any query term: a term in a quarter of 100k chunks costs
# 20+ ms on 2 cores. Terms are taken rarest first while their summed chunk counts stay within this
# budget; the common ones left out carry little BM25 weight (low IDF) and most of the cost,
# and the vector side still ranks by them. Small collections keep every term.
POSTINGS_BUDGET = 3000


@dataclass(frozen=True)
class Row:
    id: str
    source: str
    title: str
    page: int | None
    headings: str
    context: str
    text: str

    @property
    def indexed(self) -> str:
        """What FTS sees; a contentless table needs the very same text again to delete."""
        return f"{self.context}\n{self.text}"


def _fold(word: str) -> str:
    """Lower case without diacritics, as FTS5's unicode61 tokenizer indexes it."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def query_terms(query: str) -> list[str]:
    words = list(dict.fromkeys(_fold(w) for w in _WORD.findall(query)))
    return [w for w in words if w not in _STOPWORDS] or words


class LexicalIndex:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        # One connection serves every thread (the chat app ingests in the background while
        # it answers). Every use holds this lock: transactions never nest, and a connection
        # closed by one thread while another is inside a statement crashes the process
        # (seen: a collection deleted while it was being listed), so close waits its turn.
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                            (key, value))

    def count(self) -> int:
        with self._lock:
            return self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def documents(self) -> int:
        with self._lock:
            return self.db.execute(
                "SELECT count(DISTINCT source) FROM chunks WHERE live = 1"
            ).fetchone()[0]

    def _delete_rowids(self, rowids: list[int]) -> None:
        # A contentless FTS5 table deletes by repeating the indexed text.
        for rowid in rowids:
            (indexed,) = self.db.execute(
                "SELECT context || char(10) || text FROM chunks WHERE rowid = ?", (rowid,)
            ).fetchone()
            self.db.execute(
                "INSERT INTO chunks_fts(chunks_fts, rowid, body) VALUES('delete', ?, ?)",
                (rowid, indexed),
            )
            self.db.execute("DELETE FROM chunks WHERE rowid = ?", (rowid,))

    def add(self, rows: Iterable[Row], live: bool) -> None:
        """Insert or replace rows, in one transaction."""
        with self._lock, self.db:
            self.db.execute("BEGIN")
            for row in rows:
                old = self.db.execute("SELECT rowid FROM chunks WHERE id = ?", (row.id,)).fetchone()
                if old:
                    self._delete_rowids([old[0]])
                cur = self.db.execute(
                    "INSERT INTO chunks(id, source, title, page, headings, context, text, live)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (row.id, row.source, row.title, row.page, row.headings, row.context,
                     row.text, int(live)),
                )
                self.db.execute(
                    "INSERT INTO chunks_fts(rowid, body) VALUES (?, ?)",
                    (cur.lastrowid, row.indexed),
                )

    def delete(self, ids: Iterable[str]) -> None:
        with self._lock, self.db:
            self.db.execute("BEGIN")
            rowids = []
            for chunk_id in ids:
                found = self.db.execute("SELECT rowid FROM chunks WHERE id = ?", (chunk_id,))
                rowids.extend(r[0] for r in found)
            self._delete_rowids(rowids)

    def set_live(self, ids: Iterable[str]) -> None:
        with self._lock, self.db:
            self.db.execute("BEGIN")
            self.db.executemany("UPDATE chunks SET live = 1 WHERE id = ?", ((i,) for i in ids))

    def clear(self) -> None:
        with self._lock, self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM chunks")
            self.db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('delete-all')")

    def _selective_terms(self, terms: list[str]) -> list[str]:
        counts = {}
        for term in terms:
            row = self.db.execute("SELECT doc FROM chunks_vocab WHERE term = ?", (term,))
            found = row.fetchone()
            if found:
                counts[term] = found[0]
        kept: list[str] = []
        postings = 0
        for term in sorted(counts, key=counts.__getitem__):
            if postings + counts[term] > POSTINGS_BUDGET:
                break
            kept.append(term)
            postings += counts[term]
        return kept

    def search(self, query: str, limit: int) -> list[tuple[Row, float]]:
        """Best first; the score is BM25 with higher meaning better."""
        with self._lock:
            terms = self._selective_terms(query_terms(query))
            if not terms:
                return []
            expression = " OR ".join(f'"{t}"' for t in terms)
            rows = self.db.execute(
                "SELECT c.id, c.source, c.title, c.page, c.headings, c.context, c.text, f.rank"
                " FROM (SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ?"
                "       ORDER BY rank LIMIT ?) AS f"
                " JOIN chunks AS c ON c.rowid = f.rowid WHERE c.live = 1 ORDER BY f.rank",
                (expression, limit),
            ).fetchall()
        return [(Row(*row[:-1]), -row[-1]) for row in rows]
