"""What each owner asked and added, kept for the per-user limits (accounts/limits.py) and
for who may open an uploaded file (web/files.py): a mixin of the Store, on its connection."""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from typing import Any


class UsageRecords:
    """Questions asked and uploads added, per owner."""

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def write(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def questions_since(self, owner: str, since: float) -> int:
        """Questions `owner` asked after `since` (counted here, so every instance sharing
        the database counts the same; kept apart from the messages, so that deleting,
        editing or regenerating a turn does not give the question back)."""
        return self.read("SELECT COUNT(*) FROM asked WHERE owner = ? AND at > ?",
                         (owner, since))[0][0]

    def record_question(self, owner: str, keep_s: float) -> None:
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT INTO asked (owner, at) VALUES (?, ?)", (owner, now))
            db.execute("DELETE FROM asked WHERE owner = ? AND at < ?", (owner, now - keep_s))

    # Uploads -----------------------------------------------------------------------

    def add_uploads(self, owner: str, collection: str, items: list[tuple[str, int]]) -> None:
        """Record what `owner` added to `collection`: (file id or URL, bytes) each."""
        now = time.time()
        with self.transaction() as db:
            db.executemany("INSERT INTO uploads (file, owner, collection, bytes, created) "
                           "VALUES (?, ?, ?, ?, ?)",
                           [(item, owner, collection, size, now) for item, size in items])

    def upload_usage(self, owner: str, since: float) -> tuple[int, int]:
        """What `owner` added after `since` (files and URLs), and the bytes of the distinct
        files they keep."""
        added = self.read("SELECT COUNT(*) FROM uploads WHERE owner = ? AND created > ?",
                          (owner, since))[0][0]
        kept = self.read("SELECT COALESCE(SUM(bytes), 0) FROM (SELECT MAX(bytes) AS bytes "
                         "FROM uploads WHERE owner = ? AND removed IS NULL GROUP BY file)",
                         (owner,))[0][0]
        return added, kept

    def forget_collection(self, collection: str) -> None:
        """Its uploads no longer count against their owners' storage (they still count
        against the uploads per day, until a day has passed)."""
        self._forget("collection = ?", (collection,))

    def forget_upload(self, collection: str, file: str) -> None:
        """One upload (file id or URL) left `collection`: as forget_collection, for it."""
        self._forget("collection = ? AND file = ?", (collection, file))

    def _forget(self, where: str, args: tuple[str, ...]) -> None:
        now = time.time()
        with self.transaction() as db:
            db.execute(f"UPDATE uploads SET removed = ? WHERE {where} AND removed IS NULL",
                       (now, *args))
            # Counted by nothing any more: neither storage nor the last day's uploads.
            db.execute("DELETE FROM uploads WHERE removed IS NOT NULL AND created < ?",
                       (now - 86400,))

    def upload_places(self, file: str) -> list[tuple[str, str]]:
        """(owner, collection) of every time this file was added."""
        return [(r["owner"], r["collection"]) for r in
                self.read("SELECT DISTINCT owner, collection FROM uploads WHERE file = ?",
                          (file,))]
