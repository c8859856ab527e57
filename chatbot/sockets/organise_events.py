"""Organising the sidebar: pin a conversation, folders (create, rename, delete), moving a
conversation into or out of a folder. Each change is answered with `conversations` (the
listing, with the folders) to every tab of the owner; a refusal changes nothing."""

from __future__ import annotations

from typing import Any

from chatbot.db.organise import FOLDER_NAME_CHARS, folder_name
from chatbot.errors import BadPayload
from chatbot.sockets.base import Client, EventsBase, guarded

GONE = "That folder no longer exists."


class OrganiseEvents(EventsBase):
    @guarded
    def on_pin(self, client: Client, data: dict[str, Any]) -> None:
        """{"id", "pinned": bool}"""
        conversation = self.owned_conversation(client, data)
        pinned = data.get("pinned")
        if not isinstance(pinned, bool):
            raise BadPayload("Malformed request: `pinned` must be true or false.")
        self.store.set_pinned(client.viewer.key, conversation.id, pinned)
        self.send_conversations(client.viewer.key)

    @guarded
    def on_create_folder(self, client: Client, data: dict[str, Any]) -> None:
        """{"name", "conversation"?}: a new folder, with that conversation moved into it."""
        name = _name(data)
        moved = (self.owned_conversation(client, data, "conversation")
                 if data.get("conversation") is not None else None)
        folder = self.store.create_folder(client.viewer.key, name)
        if moved is not None:
            self.store.move_to_folder(client.viewer.key, moved.id, folder.id)
        self.send_conversations(client.viewer.key)

    @guarded
    def on_rename_folder(self, client: Client, data: dict[str, Any]) -> None:
        """{"id", "name"}"""
        folder_id, name = _folder_id(data.get("id")), _name(data)
        if not self.store.rename_folder(client.viewer.key, folder_id, name):
            raise BadPayload(GONE)
        self.send_conversations(client.viewer.key)

    @guarded
    def on_delete_folder(self, client: Client, data: dict[str, Any]) -> None:
        """{"id"}: its conversations stay, out of any folder."""
        if not self.store.delete_folder(client.viewer.key, _folder_id(data.get("id"))):
            raise BadPayload(GONE)
        self.send_conversations(client.viewer.key)

    @guarded
    def on_move_to_folder(self, client: Client, data: dict[str, Any]) -> None:
        """{"id", "folder": id or null (out of any folder)}"""
        conversation = self.owned_conversation(client, data)
        folder = data.get("folder")
        if folder is not None:
            folder = _folder_id(folder, "folder")
        if not self.store.move_to_folder(client.viewer.key, conversation.id, folder):
            raise BadPayload(GONE)
        self.send_conversations(client.viewer.key)


def _folder_id(value: Any, key: str = "id") -> str:
    if not isinstance(value, str):
        raise BadPayload(f"Malformed request: `{key}` must be a folder's id (a string).")
    return value


def _name(data: dict[str, Any]) -> str:
    raw = data.get("name")
    if not isinstance(raw, str):
        raise BadPayload("Malformed request: `name` must be a string.")
    name = folder_name(raw)
    if not name:
        raise BadPayload("A folder needs a name.")
    if len(name) > FOLDER_NAME_CHARS:
        raise BadPayload(f"A folder's name can be at most {FOLDER_NAME_CHARS} characters.")
    return name
