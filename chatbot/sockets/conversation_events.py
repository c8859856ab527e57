"""The sidebar and the settings panel: new, switch, rename, delete, search, settings."""

from __future__ import annotations

import html
from typing import Any

from flask_socketio import emit
from pydantic import ValidationError

from chatbot.db.rows import MARK_END, MARK_START, UNTITLED
from chatbot.errors import BadPayload, first_error
from chatbot.settings import ChatSettings
from chatbot.sockets.base import Client, EventsBase, guarded


class ConversationEvents(EventsBase):
    @guarded
    def on_reset(self, client: Client, _: dict[str, Any]) -> None:
        self.new_conversation(client)

    @guarded
    def on_switch(self, client: Client, data: dict[str, Any]) -> None:
        self.move(client, self.owned_conversation(client, data))

    @guarded
    def on_rename(self, client: Client, data: dict[str, Any]) -> None:
        conversation = self.owned_conversation(client, data)
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise BadPayload("A conversation needs a non-empty title.")
        self.store.rename(client.viewer.key, conversation.id, title)
        self.send_conversations(client.viewer.key)

    @guarded
    def on_delete(self, client: Client, data: dict[str, Any]) -> None:
        conversation = self.owned_conversation(client, data)
        self.chat.stop(conversation.id)
        self.store.delete(client.viewer.key, conversation.id)
        self.ingests.forget_attachments(conversation.id, client.viewer)
        if conversation.id == client.conversation_id:
            self.move(client, self.store.current(client.viewer.key))
        self.send_conversations(client.viewer.key)

    @guarded
    def on_settings(self, client: Client, data: dict[str, Any]) -> None:
        conversation = self.conversation(client)
        current = ChatSettings.load(self.settings, conversation.settings).model_dump()
        try:
            changed = ChatSettings(**{**current, **data})
        except (ValidationError, TypeError) as exc:
            raise BadPayload(f"Invalid settings: {first_error(exc)}") from exc
        if changed.model != current["model"]:
            problem = self.picker.switch_problem(client.viewer, changed.model)
            if problem:
                raise BadPayload(f"Invalid settings: {problem}")
        wanted = changed.rag_collection
        if (wanted is not None and wanted != current["rag_collection"]
                and self.library.find(wanted, client.viewer) is None):
            raise BadPayload(f"Invalid settings: no collection `{wanted}`.")
        self.store.update_settings(conversation.id, changed.model_dump())
        self.socketio.emit("settings", changed.model_dump(), to=conversation.id)

    @guarded
    def on_search(self, client: Client, data: dict[str, Any]) -> None:
        """{"q"}: the owner's conversations and messages holding every word of `q`."""
        query = data.get("q")
        if not isinstance(query, str):
            raise BadPayload("Malformed search: `q` must be a string.")
        hits = self.store.search(client.viewer.key, query[:self.settings.max_message_chars])
        emit("search_results", {"q": query, "results": [
            {"conversation": hit.conversation, "title": hit.title or UNTITLED,
             "message": hit.message, "snippet": _marked(hit.snippet)} for hit in hits]})


def _marked(snippet: str) -> str:
    """A search snippet as HTML: its text escaped, each match in a <mark>."""
    return (html.escape(snippet, quote=False)
            .replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))
