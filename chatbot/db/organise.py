"""How an owner organises their conversations: pinned ones, and folders (each an owner's,
holding any of that owner's conversations, one folder per conversation at most); and the
sidebar's listing of both. A mixin of the Store, on its connection.

Every method names the owner and touches only that owner's rows: another owner's folder or
conversation id is indistinguishable from one that does not exist.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from chatbot.db.rows import conversation_from
from chatbot.errors import Refused

# Enough for any way of sorting conversations by hand; a sidebar of more is no longer one.
MAX_FOLDERS = 50
FOLDER_NAME_CHARS = 60


@dataclass(frozen=True)
class Folder:
    id: str
    name: str

    def public(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


class FolderRecords:
    """Pins, folders and the sidebar's listing, per owner."""

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def write(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def sidebar(self, owner: str) -> dict[str, Any]:
        """The `conversations` event's payload: every conversation, newest activity first,
        with where it sits, and the folders by name."""
        rows = self.read(
            "SELECT c.*, o.pinned, o.folder FROM conversations c LEFT JOIN organised o "
            "ON o.conversation = c.id WHERE c.browser = ? "
            "ORDER BY c.updated DESC, c.created DESC", (owner,))
        return {"conversations": [{**conversation_from(r).summary(),
                                   "pinned": bool(r["pinned"]), "folder": r["folder"]}
                                  for r in rows],
                "folders": [f.public() for f in self.folders(owner)]}

    def folders(self, owner: str) -> list[Folder]:
        return [Folder(r["id"], r["name"]) for r in self.read(
            "SELECT id, name FROM folders WHERE owner = ? ORDER BY name COLLATE NOCASE, id",
            (owner,))]

    def create_folder(self, owner: str, name: str) -> Folder:
        """A new folder named `name` (already cleaned, see folder_name)."""
        folder = Folder(uuid.uuid4().hex, name)
        with self.transaction() as db:
            count = db.execute("SELECT COUNT(*) FROM folders WHERE owner = ?",
                               (owner,)).fetchone()[0]
            if count >= MAX_FOLDERS:
                raise Refused(f"You have {MAX_FOLDERS} folders, the most there can be: "
                              "delete one first.")
            _refuse_taken(db, owner, name, None)
            db.execute("INSERT INTO folders (id, owner, name, created) VALUES (?, ?, ?, ?)",
                       (folder.id, owner, name, time.time()))
        return folder

    def rename_folder(self, owner: str, folder_id: str, name: str) -> bool:
        with self.transaction() as db:
            if not _owns_folder(db, owner, folder_id):
                return False
            _refuse_taken(db, owner, name, folder_id)
            db.execute("UPDATE folders SET name = ? WHERE id = ?", (name, folder_id))
        return True

    def delete_folder(self, owner: str, folder_id: str) -> bool:
        """Its conversations stay, out of any folder (the foreign key's ON DELETE SET NULL)."""
        cursor = self.write("DELETE FROM folders WHERE id = ? AND owner = ?",
                            (folder_id, owner))
        return cursor.rowcount == 1

    def set_pinned(self, owner: str, conversation_id: str, pinned: bool) -> bool:
        return self._set_place(owner, conversation_id, "pinned", int(pinned))

    def move_to_folder(self, owner: str, conversation_id: str, folder_id: str | None) -> bool:
        """Put the owner's conversation in the folder (None: in none); False, changing
        nothing, when the folder is not the owner's."""
        with self.transaction() as db:
            if folder_id is not None and not _owns_folder(db, owner, folder_id):
                return False
            _place(db, owner, conversation_id, "folder", folder_id)
        return True

    def _set_place(self, owner: str, conversation_id: str, column: str, value: Any) -> bool:
        with self.transaction() as db:
            return _place(db, owner, conversation_id, column, value)


def _place(db: sqlite3.Connection, owner: str, conversation_id: str, column: str,
           value: Any) -> bool:
    """Set `column` ("pinned" or "folder") of the owner's conversation; False: no such
    conversation of the owner's."""
    cursor = db.execute(
        f"INSERT INTO organised (conversation, {column}) SELECT id, ? FROM conversations "
        f"WHERE id = ? AND browser = ? "
        f"ON CONFLICT (conversation) DO UPDATE SET {column} = excluded.{column}",
        (value, conversation_id, owner))
    return cursor.rowcount == 1


def folder_name(text: str) -> str:
    """A folder's name as kept: on one line, its runs of spaces made one."""
    return " ".join(text.split())


def _owns_folder(db: sqlite3.Connection, owner: str, folder_id: str) -> bool:
    return db.execute("SELECT 1 FROM folders WHERE id = ? AND owner = ?",
                      (folder_id, owner)).fetchone() is not None


def _refuse_taken(db: sqlite3.Connection, owner: str, name: str, but: str | None) -> None:
    taken = db.execute("SELECT 1 FROM folders WHERE owner = ? AND name = ? COLLATE NOCASE "
                       "AND id IS NOT ?", (owner, name, but)).fetchone()
    if taken:
        raise Refused(f"You already have a folder named “{name}”.")
