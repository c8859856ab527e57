"""What a slash command is given and gives back (commands.py, document_commands.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chatbot.accounts.viewer import Viewer
from chatbot.chat.grounding import OneOff
from chatbot.chat.llm import LLMClient
from chatbot.documents.library import Library
from chatbot.settings import ChatSettings, Settings


@dataclass
class Reply:
    text: str  # Markdown
    reset: bool = False  # start a new conversation
    settings: ChatSettings | None = None  # save these as the conversation's settings
    ask: str | None = None  # answer this now, as a question of the user's...
    once: OneOff | None = None  # ...grounded this way


@dataclass
class Context:
    settings: Settings
    llm: LLMClient
    chat: ChatSettings  # the conversation's current settings
    viewer: Viewer  # who typed it: collections are those they may read
    library: Library | None = None  # None: no document retrieval in this chat


Handler = Callable[[str, Context], Reply]


@dataclass(frozen=True)
class Command:
    handler: Handler
    usage: str
    summary: str
