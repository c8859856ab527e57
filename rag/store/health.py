"""What happened to each source of a collection, for whoever looks after it (the Documents
panel, `rag documents`): when it was first added, when it was last checked (ingested or
fetched again, changed or not), when its content last changed, and what went wrong the last
time (pages left unread, a fetch that failed: the stored version is then kept). A source that
failed before it was ever stored (a broken file, a link of a crawl that did not answer) has
a row too, so the failure can be shown after the ingest's summary is gone.

Kept in the collection's lexical database, in a table of its own: it is deleted with the
collection, and not cleared when the lexical rows are rebuilt from Chroma. Times are ISO
8601, UTC, to the second."""

from __future__ import annotations

from dataclasses import dataclass

from rag.lexical import LexicalIndex

_SCHEMA = """
CREATE TABLE IF NOT EXISTS health (
    source TEXT PRIMARY KEY,
    added TEXT,
    checked TEXT NOT NULL,
    changed TEXT,
    problem TEXT NOT NULL DEFAULT ''
)"""
# Failed sources never stored are kept for the newest this many: a crawl of a broken site
# must not grow the table without end.
MAX_UNSTORED = 200


@dataclass(frozen=True)
class Health:
    """added/changed: None for a source never stored. problem: "" when the last check went
    well."""

    added: str | None
    checked: str
    changed: str | None
    problem: str


class HealthLog:
    def __init__(self, index: LexicalIndex) -> None:
        self.index = index
        with index.lock:
            index.db.execute(_SCHEMA)

    def stored(self, source: str, now: str, *, changed: bool, problem: str = "") -> None:
        """`source` was ingested: written again (`changed`) or found unchanged."""
        with self.index.lock:
            self.index.db.execute(
                "INSERT INTO health (source, added, checked, changed, problem)"
                " VALUES (?1, ?2, ?2, ?2, ?3) ON CONFLICT(source) DO UPDATE SET"
                " added = coalesce(added, ?2), checked = ?2, problem = ?3,"
                " changed = CASE WHEN ?4 OR changed IS NULL THEN ?2 ELSE changed END",
                (source, now, problem, changed))

    def failed(self, source: str, now: str, problem: str) -> None:
        """Reading `source` failed; a stored version, if any, was kept."""
        with self.index.lock, self.index.db:
            self.index.db.execute("BEGIN")
            self.index.db.execute(
                "INSERT INTO health (source, checked, problem) VALUES (?1, ?2, ?3)"
                " ON CONFLICT(source) DO UPDATE SET checked = ?2, problem = ?3",
                (source, now, problem))
            self.index.db.execute(
                "DELETE FROM health WHERE added IS NULL AND source NOT IN (SELECT source"
                " FROM health WHERE added IS NULL ORDER BY checked DESC LIMIT ?)",
                (MAX_UNSTORED,))

    def forget(self, source: str) -> None:
        with self.index.lock:
            self.index.db.execute("DELETE FROM health WHERE source = ?", (source,))

    def all(self) -> dict[str, Health]:
        with self.index.lock:
            rows = self.index.db.execute(
                "SELECT source, added, checked, changed, problem FROM health").fetchall()
        return {source: Health(*rest) for source, *rest in rows}
