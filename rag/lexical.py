"""Full-text (BM25) index of one collection's chunks: SQLite FTS5, one file per collection
under DATA_DIR/lexical, mirroring the Chroma collection chunk for chunk.

Chroma's own `where_document` is a boolean filter, not a ranking, so BM25 lives here. The file
is local even with a Chroma server; it is rebuilt from Chroma whenever their counts differ,
and its full-text table from its own stored chunks when the tokenizer changed."""

from __future__ import annotations

import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Porter stemming over unicode61, so "copies", "copying" and "copied" all match "copy" (the
# paraphrased questions of bench/rag_pydoc.py rarely use a page's own word forms); '_' kept
# so snake_case identifiers stay whole. An index built with another tokenizer is rebuilt.
TOKENIZER = "porter unicode61 remove_diacritics 2 tokenchars '_'"
_FTS = (
    f"CREATE VIRTUAL TABLE chunks_fts USING fts5(body, content='', tokenize=\"{TOKENIZER}\")",
    "CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, row)",
)
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
_REBUILD_WAIT_MS = 10 * 60 * 1000


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
    """Lower case without diacritics, as the tokenizer folds a word before stemming it."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def query_words(query: str) -> list[str]:
    words = list(dict.fromkeys(_fold(w) for w in _WORD.findall(query)))
    return [w for w in words if w not in _STOPWORDS] or words


class LexicalIndex:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        self._index_with_tokenizer()
        # Query words go through a table of their own in memory with the same tokenizer, so
        # their vocabulary lookups use the very terms (stems) the index holds.
        self._words = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._words.execute(
            f"CREATE VIRTUAL TABLE words USING fts5(word, content='', tokenize=\"{TOKENIZER}\")"
        )
        self._words.execute("CREATE VIRTUAL TABLE word_terms USING fts5vocab(words, instance)")
        # One connection serves every thread (the chat app ingests in the background while
        # it answers). Every use holds this lock: transactions never nest, and a connection
        # closed by one thread while another is inside a statement crashes the process
        # (seen: a collection deleted while it was being listed), so close waits its turn.
        self.lock = threading.RLock()

    def _built_with(self) -> str | None:
        found = self.db.execute("SELECT value FROM meta WHERE key = 'tokenizer'").fetchone()
        return found[0] if found else None

    def _index_with_tokenizer(self) -> None:
        """(Re)build the full-text table from the stored chunks when it was made with another
        tokenizer (an index written before stemming) or not at all: nothing is re-embedded."""
        if self._built_with() == TOKENIZER:
            return
        # Another process may be rebuilding this very index (a large one takes seconds):
        # wait for it, then find the work done, rather than fail after the usual 5 s.
        (timeout,) = self.db.execute("PRAGMA busy_timeout").fetchone()
        self.db.execute(f"PRAGMA busy_timeout = {_REBUILD_WAIT_MS}")
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                if self._built_with() == TOKENIZER:
                    return
                for statement in ("DROP TABLE IF EXISTS chunks_vocab",
                                  "DROP TABLE IF EXISTS chunks_fts", *_FTS):
                    self.db.execute(statement)
                self.db.execute("INSERT INTO chunks_fts(rowid, body)"
                                " SELECT rowid, context || char(10) || text FROM chunks")
                self.db.execute("INSERT OR REPLACE INTO meta(key, value)"
                                " VALUES ('tokenizer', ?)", (TOKENIZER,))
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {int(timeout)}")

    def close(self) -> None:
        with self.lock:
            self.db.close()
            self._words.close()

    def get_meta(self, key: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                            (key, value))

    def count(self) -> int:
        with self.lock:
            return self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def documents(self) -> int:
        with self.lock:
            return self.db.execute(
                "SELECT count(DISTINCT source) FROM chunks WHERE live = 1"
            ).fetchone()[0]

    def sources(self) -> list[tuple[str, str, int, int | None]]:
        """(source, title, chunks, last page or None) of every shown source, by source."""
        with self.lock:
            return self.db.execute(
                "SELECT source, max(title), count(*), max(page) FROM chunks WHERE live = 1 "
                "GROUP BY source ORDER BY source"
            ).fetchall()

    def rows(self, source: str) -> list[Row]:
        """Every live chunk of `source`, in document order (a chunk id ends with its index
        in its document)."""
        with self.lock:
            found = self.db.execute(
                "SELECT id, source, title, page, headings, context, text FROM chunks"
                " WHERE live = 1 AND source = ?", (source,)).fetchall()
        rows = [Row(*r) for r in found]
        return sorted(rows, key=lambda r: int(r.id.rpartition("-")[2] or 0))

    def texts(self, ids: list[str]) -> dict[str, str]:
        """The text of each live chunk of `ids` that exists."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self.lock:
            return dict(self.db.execute(
                f"SELECT id, text FROM chunks WHERE live = 1 AND id IN ({marks})", ids
            ).fetchall())

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
        with self.lock, self.db:
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
        with self.lock, self.db:
            self.db.execute("BEGIN")
            rowids = []
            for chunk_id in ids:
                found = self.db.execute("SELECT rowid FROM chunks WHERE id = ?", (chunk_id,))
                rowids.extend(r[0] for r in found)
            self._delete_rowids(rowids)

    def set_live(self, ids: Iterable[str]) -> None:
        with self.lock, self.db:
            self.db.execute("BEGIN")
            self.db.executemany("UPDATE chunks SET live = 1 WHERE id = ?", ((i,) for i in ids))

    def clear(self) -> None:
        with self.lock, self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM chunks")
            self.db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('delete-all')")

    def _stems(self, words: list[str]) -> list[tuple[str, ...]]:
        """Each word's terms as the index's tokenizer makes them."""
        stems: list[list[str]] = [[] for _ in words]
        # Rolled back, not deleted: the table stays empty, and this costs a fraction of
        # writing and deleting the rows.
        self._words.execute("BEGIN")
        try:
            self._words.executemany("INSERT INTO words(rowid, word) VALUES (?, ?)",
                                    enumerate(words))
            for term, rowid in self._words.execute(
                "SELECT term, doc FROM word_terms ORDER BY doc, offset"
            ):
                stems[rowid].append(term)
        finally:
            self._words.execute("ROLLBACK")
        return [tuple(s) for s in stems]

    def absent(self, words: list[str]) -> list[str]:
        """The words of `words` that no chunk of the index contains (by their stems)."""
        with self.lock:
            return [word for word, stems in zip(words, self._stems(words), strict=True)
                    if stems and not all(
                        self.db.execute("SELECT 1 FROM chunks_vocab WHERE term = ?",
                                        (stem,)).fetchone() for stem in stems)]

    def _selective_words(self, words: list[str]) -> list[str]:
        """The words to match, rarest first within POSTINGS_BUDGET, one per stem.

        The words themselves are matched, not their stems: FTS5 stems a query's words again,
        and Porter stemming a stem can cut it further ("agreed" -> "agre" -> "agr")."""
        postings: dict[str, int] = {}
        seen: set[tuple[str, ...]] = set()
        for word, stems in zip(words, self._stems(words), strict=True):
            if not stems or stems in seen:
                continue
            seen.add(stems)
            counts = [self.db.execute("SELECT doc FROM chunks_vocab WHERE term = ?",
                                      (stem,)).fetchone() for stem in stems]
            # A word with a term the index lacks matches no chunk.
            if all(counts):
                postings[word] = sum(found[0] for found in counts)
        kept: list[str] = []
        total = 0
        for word in sorted(postings, key=postings.__getitem__):
            if total + postings[word] > POSTINGS_BUDGET:
                break
            kept.append(word)
            total += postings[word]
        return kept

    def search(self, query: str, limit: int) -> list[tuple[Row, float]]:
        """Best first; the score is BM25 with higher meaning better."""
        with self.lock:
            words = self._selective_words(query_words(query))
            if not words:
                return []
            expression = " OR ".join(f'"{w}"' for w in words)
            rows = self.db.execute(
                "SELECT c.id, c.source, c.title, c.page, c.headings, c.context, c.text, f.rank"
                " FROM (SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ?"
                "       ORDER BY rank LIMIT ?) AS f"
                " JOIN chunks AS c ON c.rowid = f.rowid WHERE c.live = 1 ORDER BY f.rank",
                (expression, limit),
            ).fetchall()
        return [(Row(*row[:-1]), -row[-1]) for row in rows]
