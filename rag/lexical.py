"""Full-text (BM25) index of one collection's chunks: SQLite FTS5, one file per collection
under DATA_DIR/lexical, mirroring the Chroma collection chunk for chunk.

Chroma's own `where_document` is a boolean filter, not a ranking, so BM25 lives here. The file
is local even with a Chroma server; it is rebuilt from Chroma whenever their counts differ."""

from __future__ import annotations

import re
import sqlite3
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
-- Porter stemming for prose; '_' kept inside tokens so snake_case identifiers stay whole.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    body, content='', tokenize="porter unicode61 remove_diacritics 2 tokenchars '_'"
);
"""

# Dropped from queries: they match nearly every chunk, cost time and add nothing to BM25.
_STOPWORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "i", "in", "is", "it", "of", "on", "or", "that", "the", "this", "to", "what", "when",
    "where", "which", "who", "why", "with", "you", "your",
])
_WORD = re.compile(r"\w+", re.UNICODE)


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


def match_expression(query: str) -> str | None:
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in words if w not in _STOPWORDS] or words
    if not kept:
        return None
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(kept))


class LexicalIndex:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def documents(self) -> int:
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
        with self.db:
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
        with self.db:
            self.db.execute("BEGIN")
            rowids = []
            for chunk_id in ids:
                found = self.db.execute("SELECT rowid FROM chunks WHERE id = ?", (chunk_id,))
                rowids.extend(r[0] for r in found)
            self._delete_rowids(rowids)

    def set_live(self, ids: Iterable[str]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("UPDATE chunks SET live = 1 WHERE id = ?", ((i,) for i in ids))

    def clear(self) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM chunks")
            self.db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('delete-all')")

    def search(self, query: str, limit: int) -> list[tuple[Row, float]]:
        """Best first; the score is BM25 with higher meaning better."""
        expression = match_expression(query)
        if expression is None:
            return []
        rows = self.db.execute(
            "SELECT c.id, c.source, c.title, c.page, c.headings, c.context, c.text, f.rank"
            " FROM (SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ?"
            "       ORDER BY rank LIMIT ?) AS f"
            " JOIN chunks AS c ON c.rowid = f.rowid WHERE c.live = 1 ORDER BY f.rank",
            (expression, limit),
        ).fetchall()
        return [(Row(*row[:-1]), -row[-1]) for row in rows]
