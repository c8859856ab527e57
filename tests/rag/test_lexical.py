"""The lexical (BM25) index: stemming, and rebuilding an index made with another tokenizer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rag.lexical import TOKENIZER, LexicalIndex, Row


def _row(n: int, text: str, context: str = "Guide > Files") -> Row:
    return Row(f"c{n}", "guide.html", "Guide", None, context, context, text)


def _found(index: LexicalIndex, query: str) -> list[str]:
    return [row.id for row, _ in index.search(query, 10)]


def test_word_forms_meet_and_identifiers_stay_whole(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "col.sqlite3")
    index.add([
        _row(0, "Copying a tree of directories keeps the permissions."),
        _row(1, "token_urlsafe returns a random URL-safe text string."),
        _row(2, "A token is a unit of text."),
    ], live=True)
    assert _found(index, "how do I copy directories?") == ["c0"]
    assert _found(index, "copies") == ["c0"]
    assert _found(index, "token_urlsafe") == ["c1"]
    assert _found(index, "tokens") == ["c2"]


def test_forms_of_one_word_count_once(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "col.sqlite3")
    index.add([_row(0, "Compressing the data first."), _row(1, "The archive of data.")],
              live=True)
    # Two forms of "compress" in the query must not weigh the term twice.
    assert index.search("compress data", 10) == index.search("compressed compress data", 10)


def _unstemmed_index(path: Path) -> None:
    """An index as written before stemming: the same tables, unicode61 alone, no tokenizer
    recorded."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript("""
        CREATE TABLE chunks (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL, title TEXT NOT NULL, page INTEGER, headings TEXT NOT NULL,
            context TEXT NOT NULL, text TEXT NOT NULL, live INTEGER NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            body, content='', tokenize="unicode61 remove_diacritics 2 tokenchars '_'");
        CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, row);
        INSERT INTO meta VALUES ('chroma_id', 'abc');
    """)
    for n, text in enumerate(["Compressing files with gzip.", "Reading archives."]):
        row = _row(n, text)
        cur = db.execute(
            "INSERT INTO chunks(id, source, title, page, headings, context, text, live)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            (row.id, row.source, row.title, row.page, row.headings, row.context, row.text),
        )
        db.execute("INSERT INTO chunks_fts(rowid, body) VALUES (?, ?)",
                   (cur.lastrowid, row.indexed))
    db.close()


def test_index_made_before_stemming_is_rebuilt_from_its_chunks(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _unstemmed_index(path)
    index = LexicalIndex(path)
    assert index.get_meta("tokenizer") == TOKENIZER
    # Nothing else changes: the same chunks, still tied to the same Chroma collection.
    assert index.count() == 2
    assert index.get_meta("chroma_id") == "abc"
    assert _found(index, "compress") == ["c0"]
    # The rebuilt rows delete cleanly (a contentless table deletes by the indexed text).
    index.delete(["c0"])
    assert _found(index, "compress") == []
    assert _found(index, "archive") == ["c1"]
    index.db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')")
    index.close()
    assert _found(LexicalIndex(path), "archives") == ["c1"]
