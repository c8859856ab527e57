"""Versions of a turn (the message tree of db/tree.py): regenerate an answer, edit and resend
a question, choose which version is shown, continue a stopped or cut answer, and branch into
a new conversation from any message.

Regenerating and editing add a version beside the old one; nothing is deleted. The tabs on
the conversation are shown the path up to where the new version goes (`history`), then the
question (`user_message`) and the answer's events, then, once it ended, the whole path again
(`history`, whose messages now count the new version among their `siblings`).
"""

from __future__ import annotations

from typing import Any

from chatbot.chat.chat import BUSY
from chatbot.chat.grounding import OneOff
from chatbot.chat.streaming import Place
from chatbot.db.rows import Conversation, Message
from chatbot.errors import BadPayload, Refused
from chatbot.sockets.base import Client, guarded
from chatbot.sockets.chat_events import ChatEvents

GONE = "That message no longer exists."


def message_id(data: dict[str, Any], event: str) -> int:
    value = data.get("id")
    # bool is an int to Python, not a message id.
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadPayload(f"Malformed {event}: `id` must be a message id.")
    return value


class VersionEvents(ChatEvents):
    def _own(self, conversation: Conversation, data: dict[str, Any], event: str,
             role: str | None = None) -> Message:
        """The message `id` of this socket's conversation (of `role`); any other id, another
        owner's included, is one that does not exist."""
        found = self.store.message(conversation.id, message_id(data, event))
        if found is None or (role is not None and found.role != role):
            raise BadPayload(GONE)
        return found

    @guarded
    def on_regenerate(self, client: Client, data: dict[str, Any]) -> None:
        """{} or {"id"}: another answer to the question of answer `id` (by default the last
        question shown), beside the answers it has."""
        conversation = self.conversation(client)
        if "id" in data:
            answer = self._own(conversation, data, "regenerate", "assistant")
            question = self.store.message(conversation.id, answer.parent or 0)
        else:
            question = next((m for m in reversed(self.store.path(conversation.id))
                             if m.role == "user"), None)
        if question is None:
            raise BadPayload("There is no answer to regenerate yet.")
        # A question a command grounded (`/summarize URL`, `/rag QUESTION`) is grounded the
        # same way again.
        self._version(client, conversation, Place(question.parent, question.id),
                      question.content, OneOff.from_stored((question.meta or {}).get("once")))

    @guarded
    def on_edit(self, client: Client, data: dict[str, Any]) -> None:
        """{"id", "text"}: another version of the user's message `id`, saying `text`,
        answered; the old one stays, with its answers, one ‹ › away."""
        text = data.get("text")
        if not isinstance(text, str):
            raise BadPayload("Malformed edit: `id` must be a message id and `text` a string.")
        message_id(data, "edit")
        text = text.strip()
        self._check_length(text)
        if text.startswith("/"):
            raise BadPayload("An edited message is sent to the model: it cannot be a command.")
        conversation = self.conversation(client)
        question = self._own(conversation, data, "edit", "user")
        self._version(client, conversation, Place(question.parent), text)

    def _version(self, client: Client, conversation: Conversation, place: Place, text: str,
                 once: OneOff | None = None) -> None:
        """Answer `text` as a new version at `place`. Refused, changing nothing, while an
        answer is being written or when the user may not ask now; the tabs are shown the
        shorter path only once the conversation is claimed for the new answer."""
        cid = conversation.id
        on_path = place.question if place.question is not None else place.parent

        def shorten() -> Conversation:
            if on_path is not None:
                self.store.choose(cid, on_path)  # the new version's path is the one shown
            # Up to the question's place: `user_message` shows the question next.
            self.socketio.emit("history", self.history(conversation, place.parent), to=cid)
            return conversation

        if self._answer(client, conversation, text, echo=True, prepare=shorten, once=once,
                        place=place, after=lambda: self._show_all(cid, client)):
            self.metrics.messages.inc()

    def _show_all(self, conversation_id: str, client: Client) -> None:
        conversation = self.store.get(client.viewer.key, conversation_id)
        if conversation is not None:
            self.socketio.emit("history", self.history(conversation), to=conversation_id)

    @guarded
    def on_choose_version(self, client: Client, data: dict[str, Any]) -> None:
        """{"id"}: show message `id` (and the path to it) instead of the versions beside it;
        the tabs on the conversation get `history`."""
        conversation = self.conversation(client)
        chosen = self._own(conversation, data, "choose_version")
        if self.chat.busy(conversation.id):
            raise Refused(BUSY)
        self.store.choose(conversation.id, chosen.id)
        self._show_all(conversation.id, client)

    @guarded
    def on_continue(self, client: Client, data: dict[str, Any]) -> None:
        """{"id"}: the stopped or cut answer `id` goes on from its last word, in place: its
        tabs get `history` with it as `streaming`, then its `token`s and `done`."""
        conversation = self.conversation(client)
        answer = self._own(conversation, data, "continue", "assistant")
        if answer.state != "stopped" and (answer.meta or {}).get("finish_reason") != "length":
            raise BadPayload("Only an answer that was stopped, or cut at the answer length "
                             "limit, can be continued.")
        question = self.store.message(conversation.id, answer.parent or 0)
        if question is None:
            raise BadPayload(GONE)
        cid = conversation.id

        def show_partial() -> Conversation:
            self.store.choose(cid, answer.id)
            payload = self.history(conversation, question.id)
            payload["streaming"] = {"text": answer.content, "user": question.content,
                                    "id": answer.id}
            self.socketio.emit("history", payload, to=cid)
            return conversation

        self._answer(client, conversation, question.content, echo=True, prepare=show_partial,
                     place=Place(question.parent, question.id, answer),
                     after=lambda: self._show_all(cid, client), ask=False)

    @guarded
    def on_branch(self, client: Client, data: dict[str, Any]) -> None:
        """{"id"}: a new conversation holding copies of the path up to message `id`, with
        this one's settings; it becomes this socket's (`history`, `conversations`)."""
        conversation = self.conversation(client)
        message = self._own(conversation, data, "branch")
        branched = self.store.branch(client.viewer.key, conversation, message.id)
        if branched is None:
            raise BadPayload(GONE)
        self.move(client, branched)
        self.send_conversations(client.viewer.key)
