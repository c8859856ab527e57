"""One answer for the OpenAI-compatible API (web/api.py), made by the page's own steps
(answering.py: budget, retrieval, prompt, the model's stream, the citation, the sources).

An API request carries its whole conversation. It is put into an in-memory store for the
time of the answer, as the terminal chat does, so that budgeting (the oldest turns dropped
when they do not fit, a question too long refused), follow-up retrieval and the prompt are
exactly the page's; nothing of it reaches DATA_DIR or the user's sidebar, and it is deleted
when the answer ends. The answer waits for a slot in the page's queue (round-robin between
users, whoever asks through which door).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbot.accounts.viewer import Viewer
from chatbot.chat.answering import Answering
from chatbot.chat.grounding import Grounding
from chatbot.chat.llm import LLMClient
from chatbot.chat.prompt import PromptBuilder
from chatbot.chat.slots import SlotQueue
from chatbot.chat.streaming import Generation, Streamer
from chatbot.chat.transcript import Transcript
from chatbot.chat.whole import Whole
from chatbot.db.store import Store
from chatbot.documents.library import Library
from chatbot.metrics import Metrics
from chatbot.settings import ChatSettings, Settings


@dataclass(frozen=True)
class Question:
    """What an API request asks: the conversation's settings (a `rag_collection` grounds
    it), its earlier turns as (role, text), oldest first, and the question."""

    chat: ChatSettings
    history: list[tuple[str, str]]
    text: str


@dataclass
class Answer:
    text: str = ""
    finish_reason: str = "stop"
    usage: dict[str, int] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    not_covered: dict[str, Any] | None = None
    notices: list[str] = field(default_factory=list)  # e.g. retrieval failed: no documents


class ApiAnswers:
    def __init__(self, settings: Settings, llm: LLMClient, library: Library, slots: SlotQueue,
                 metrics: Metrics):
        self.settings = settings
        self.llm = llm
        self.slots = slots
        self.metrics = metrics
        self.store = Store(Path(":memory:"))
        self.answering = Answering(
            settings, llm, Grounding(settings, self.store, library, metrics, self._emit,
                                     Whole(llm, library, settings.data_dir)),
            PromptBuilder(self.store, Transcript(self.store, metrics, self._emit), metrics,
                          self._emit))
        # Every piece passed on as it comes: the HTTP response is the only listener.
        self.streamer = Streamer(self._emit, metrics, 0)
        self._listeners: dict[str, Callable[[str, dict[str, Any]], None]] = {}
        self._lock = threading.Lock()

    def _emit(self, event: str, payload: dict[str, Any], room: str | None) -> None:
        with self._lock:
            listener = self._listeners.get(room or "")
        if listener is not None:
            listener(event, payload)

    def answer(self, question: Question, viewer: Viewer, cancelled: threading.Event,
               on_text: Callable[[str], None] | None = None) -> Answer | None:
        """The answer, each piece of its text passed to `on_text` as it comes; None when
        `cancelled` was set before the model was asked. Raises LLMError (the LLM server
        failed) and MessageTooLong (the question does not fit the context)."""
        conversation = self.store.create(viewer.key, question.chat.model_dump())
        for role, text in question.history:
            self.store.add_message(conversation.id, role, text)
        generation = Generation(conversation.id, question.text, viewer)
        generation.cancelled = cancelled
        answer = Answer()

        def listen(event: str, payload: dict[str, Any]) -> None:
            if event == "token" and on_text is not None:
                on_text(payload["text"])
            elif event == "notice":
                answer.notices.append(payload["text"])

        with self._lock:
            self._listeners[conversation.id] = listen
        holding_slot = False

        def generating() -> bool:
            nonlocal holding_slot
            if self.settings.llm_concurrency is None:
                self.slots.resize(self.llm.slots())
            if not self.slots.acquire(viewer.key, cancelled, lambda _ahead: None):
                return False
            holding_slot = True
            self.metrics.generating.inc()
            return not cancelled.is_set()

        outcome = "error"
        try:
            ask = self.answering.prepare(conversation, generation)
            written = self.answering.write(ask, generation, self.streamer, generating)
            if written is None:
                outcome = "stopped"
                return None
            self.answering.conclude(ask, generation)
            outcome = "stopped" if cancelled.is_set() else "done"
        finally:
            if holding_slot:
                self.metrics.generating.dec()
                self.slots.release(viewer.key)
            with self._lock:
                del self._listeners[conversation.id]
            self.store.delete(viewer.key, conversation.id)
            self.metrics.answers.labels(outcome=outcome).inc()
            self.metrics.tokens.inc(generation.tokens)
        usage = written.usage or {}
        completion = usage.get("completion_tokens") or generation.tokens
        prompt = usage.get("prompt_tokens") or generation.prompt_tokens
        answer.text = "".join(generation.parts)
        answer.finish_reason = written.finish_reason or "stop"
        answer.usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                        "total_tokens": prompt + completion}
        answer.sources = generation.sources
        answer.not_covered = generation.not_covered
        return answer
