"""Sharing a conversation by a read-only link (the page at /shared/<token>, web/shared.py):
make one, list one's own, revoke one. The link shows a copy made now: later messages never
reach it."""

from __future__ import annotations

from typing import Any

from flask_socketio import emit

from chatbot.common import browser_room
from chatbot.db.rows import UNTITLED
from chatbot.errors import BadPayload, Refused
from chatbot.sockets.base import Client, EventsBase, guarded


class ShareEvents(EventsBase):
    @guarded
    def on_share(self, client: Client, data: dict[str, Any]) -> None:
        """{"id"} → `share_created` to this tab, `shares` to all of the owner's."""
        conversation = self.owned_conversation(client, data)
        messages = self.store.messages(conversation.id)
        if not messages:
            raise Refused("There is nothing to share yet: this conversation has no messages.")
        share = self.store.create_share(client.viewer.key, conversation.id,
                                        conversation.title or UNTITLED, messages)
        if share is None:  # deleted from another tab meanwhile
            raise BadPayload("That conversation no longer exists.")
        emit("share_created", share.public())
        self._send_shares(client.viewer.key)

    @guarded
    def on_shares(self, client: Client, _: dict[str, Any]) -> None:
        emit("shares", self._listing(client.viewer.key))

    @guarded
    def on_revoke_share(self, client: Client, data: dict[str, Any]) -> None:
        """{"token"}: the link answers 404 from now on."""
        token = data.get("token")
        if not isinstance(token, str):
            raise BadPayload("Malformed request: `token` must be a string.")
        if not self.store.revoke_share(client.viewer.key, token):
            raise BadPayload("That link no longer exists.")
        self._send_shares(client.viewer.key)

    def _listing(self, owner: str) -> dict[str, Any]:
        return {"shares": [s.public() for s in self.store.shares(owner)]}

    def _send_shares(self, owner: str) -> None:
        self.socketio.emit("shares", self._listing(owner), to=browser_room(owner))
