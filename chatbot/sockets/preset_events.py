"""Presets: listed, created, changed, deleted, and a conversation started from one (the
rules are chat/presets.py's)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_socketio import emit

from chatbot.common import browser_room
from chatbot.db.rows import Conversation
from chatbot.sockets.base import Client, EventsBase, guarded


class PresetEvents(EventsBase):
    @guarded
    def on_presets(self, client: Client, _: dict[str, Any]) -> None:
        emit("presets", self.presets.listing(client.viewer))

    @guarded
    def on_create_preset(self, client: Client, data: dict[str, Any]) -> None:
        """{"name", "system_prompt"?, "temperature"?, "top_p"?, "max_tokens"?, "model"?,
        "collection"?, "shared"?}: a new preset of this owner's."""
        preset = self.presets.create(client.viewer, data)
        self._changed(client, preset.shared)

    @guarded
    def on_update_preset(self, client: Client, data: dict[str, Any]) -> None:
        """{"id", and any field of create_preset}: the others keep their value."""
        before, after = self.presets.update(client.viewer, data)
        self._changed(client, before.shared or after.shared)

    @guarded
    def on_delete_preset(self, client: Client, data: dict[str, Any]) -> None:
        """{"id"}: conversations started from it keep their settings."""
        preset = self.presets.delete(client.viewer, data)
        self._changed(client, preset.shared)

    @guarded
    def on_start_preset(self, client: Client, data: dict[str, Any]) -> None:
        """{"id"}: a new conversation (this one, while it is empty) with the preset's
        settings, shown to this socket."""
        preset, chat = self.presets.start(client.viewer, data)

        def prepare(conversation: Conversation) -> None:
            self.store.update_settings(conversation.id, chat.model_dump())
            self.presets.link(conversation.id, preset)

        conversation = self.new_conversation(client, prepare)
        # Other tabs showing this conversation while it was empty see the preset too.
        self.socketio.emit("history", self.history(conversation), to=conversation.id,
                           skip_sid=request.sid)  # type: ignore[attr-defined]

    def _changed(self, client: Client, shared: bool) -> None:
        """The owner's tabs get the new listing; with a shared preset changed, every other
        page is told to ask for its own (a listing depends on who reads it)."""
        viewer = client.viewer
        self.socketio.emit("presets", self.presets.listing(viewer), to=browser_room(viewer.key))
        if shared:
            self.socketio.emit("presets_changed", {})

