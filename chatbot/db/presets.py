"""Presets as stored (tables `presets` and `conversation_presets`, migration m009_presets):
rows in, rows out. Who may see or change one is decided by chat/presets.py, not here."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any

from chatbot.db.store import Store
from chatbot.errors import Refused


@dataclass(frozen=True)
class Preset:
    id: str
    owner: str  # the owner key of whoever made it (a browser, or `user:<id>`)
    name: str
    # system_prompt, temperature, top_p, max_tokens, model, collection
    settings: dict[str, Any]
    shared: bool


def _preset(row: sqlite3.Row) -> Preset:
    return Preset(id=row["id"], owner=row["owner"], name=row["name"],
                  settings=json.loads(row["settings"]), shared=bool(row["shared"]))


class PresetStore:
    def __init__(self, store: Store):
        self.store = store

    def visible(self, owner: str) -> list[Preset]:
        """`owner`'s presets and the shared ones, by name."""
        rows = self.store.read("SELECT * FROM presets WHERE owner = ? OR shared = 1 "
                               "ORDER BY name COLLATE NOCASE, created", (owner,))
        return [_preset(r) for r in rows]

    def get(self, preset_id: str) -> Preset | None:
        rows = self.store.read("SELECT * FROM presets WHERE id = ?", (preset_id,))
        return _preset(rows[0]) if rows else None

    def add(self, owner: str, name: str, settings: dict[str, Any], shared: bool,
            limit: int) -> Preset:
        """A new preset; refused when `owner` already has `limit` presets or one named
        `name` (checked in the same transaction, so two tabs cannot both pass)."""
        preset = Preset(uuid.uuid4().hex, owner, name, settings, shared)
        now = time.time()
        with self.store.transaction() as db:
            count = db.execute("SELECT COUNT(*) FROM presets WHERE owner = ?",
                               (owner,)).fetchone()[0]
            if count >= limit:
                raise Refused(f"You have {count} presets, the most one may keep: delete "
                              "one first.")
            _refuse_duplicate(db, owner, name, None)
            db.execute("INSERT INTO presets (id, owner, name, settings, shared, created, "
                       "updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (preset.id, owner, name, json.dumps(settings), int(shared), now, now))
        return preset

    def replace(self, preset: Preset) -> None:
        with self.store.transaction() as db:
            _refuse_duplicate(db, preset.owner, preset.name, preset.id)
            db.execute("UPDATE presets SET name = ?, settings = ?, shared = ?, updated = ? "
                       "WHERE id = ?", (preset.name, json.dumps(preset.settings),
                                        int(preset.shared), time.time(), preset.id))

    def delete(self, preset_id: str) -> None:
        self.store.write("DELETE FROM presets WHERE id = ?", (preset_id,))

    def link(self, conversation_id: str, preset: Preset) -> None:
        """`conversation_id` was started from `preset`, named as it is now."""
        self.store.write("INSERT INTO conversation_presets (conversation, preset, name) "
                         "VALUES (?, ?, ?) ON CONFLICT (conversation) DO UPDATE SET "
                         "preset = excluded.preset, name = excluded.name",
                         (conversation_id, preset.id, preset.name))

    def of_conversation(self, conversation_id: str) -> dict[str, str] | None:
        """{"id", "name"} of the preset the conversation was started from, or None."""
        rows = self.store.read("SELECT preset, name FROM conversation_presets "
                               "WHERE conversation = ?", (conversation_id,))
        return {"id": rows[0]["preset"], "name": rows[0]["name"]} if rows else None


def _refuse_duplicate(db: sqlite3.Connection, owner: str, name: str,
                      other_than: str | None) -> None:
    same = db.execute("SELECT 1 FROM presets WHERE owner = ? AND name = ? COLLATE NOCASE "
                      "AND id IS NOT ?", (owner, name, other_than)).fetchone()
    if same:
        raise Refused(f"You already have a preset named “{name}”: choose another name.")
