"""Where an answer ends: the question and the answer written to the conversation store, then
the outcome counted and told to the conversation's room.

The database is written once per answer, before `done`: a `done` the browser saw is never
lost. Only the first ending of an answer counts (a stop and the worker's own end may race).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from chatbot.chat.streaming import Generation, Place
from chatbot.common import Emit
from chatbot.db.store import Store
from chatbot.errors import StoreFull
from chatbot.metrics import Metrics

log = logging.getLogger("chatbot.chat.transcript")


@dataclass(frozen=True)
class Ending:
    """How an answer ended, as stored; what `announce` tells the room."""

    state: str  # "done", "stopped" or "error"
    message_id: int | None  # the stored answer; None when it could not be stored
    usage: dict[str, int]
    error: str | None
    finish_reason: str | None
    tokens_per_s: float
    reasoning: str = ""  # a reasoning model's thoughts, as stored
    thought_s: float | None = None


class Transcript:
    def __init__(self, store: Store, metrics: Metrics, emit: Emit):
        self.store = store
        self.metrics = metrics
        self.emit = emit

    def place(self, generation: Generation) -> Place:
        """Where the answer goes: as given, or after the last message shown now."""
        if generation.place is None:
            generation.place = Place(self.store.leaf(generation.conversation_id))
        return generation.place

    def add_question(self, generation: Generation, tokens: int | None) -> int:
        """Store the user's message (unless it is stored already: regenerating); its id.
        `generation.on_stored` then runs (storing it may have titled the conversation)."""
        place = self.place(generation)
        message_id = place.question
        if message_id is None:
            meta = {"once": generation.once.stored()} if generation.once else None
            message_id = self.store.add_message(generation.conversation_id, "user",
                                                generation.text, parent=place.parent,
                                                tokens=tokens, meta=meta)
            generation.place = replace(place, question=message_id)
        generation.user_stored = True
        if generation.on_stored:
            generation.on_stored(message_id)
        return message_id

    def close(self, generation: Generation, state: str, *, error: str | None = None,
              usage: dict[str, int] | None = None, finish_reason: str | None = None,
              shown: int | None = None) -> Ending | None:
        """Store the answer as it was shown (see Generation.keep_shown); None when it had
        already ended."""
        with generation.lock:
            if generation.finished:
                return None
            generation.finished = True
            content = generation.keep_shown(shown)
            reasoning = "".join(generation.reasoning)
        # The reasoning took tokens of the answer's (a server's usage counts them already).
        thought_tokens = len(generation.reasoning)
        completion = ((usage or {}).get("completion_tokens")
                      or generation.tokens + thought_tokens)
        prompt = (usage or {}).get("prompt_tokens") or generation.prompt_tokens
        final_usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                       "total_tokens": prompt + completion}
        if thought_tokens:
            final_usage["reasoning_tokens"] = thought_tokens
        meta: dict[str, Any] = {"usage": final_usage, "tokens_per_s": generation.tokens_per_s(),
                                "model": generation.model}
        thought_s = generation.thought_s()
        if thought_s is not None:
            meta["thought_s"] = thought_s
        if generation.seen:
            meta["seen"] = generation.seen
        if generation.not_covered:
            meta["not_covered"] = generation.not_covered
        if error:
            meta["error"] = error
        if finish_reason:
            meta["finish_reason"] = finish_reason
        message_id = None
        try:
            if not generation.user_stored:
                # It failed before the question was saved (server down, message too long):
                # keep the question and the failure, as the user saw them.
                self.add_question(generation, None)
            place = self.place(generation)
            if place.answer is not None:
                # A continuation that failed leaves the answer as it was, stopped: it can
                # be continued again.
                message_id = place.answer.id
                self.store.replace_answer(message_id, content,
                                          state="stopped" if state == "error" else state,
                                          tokens=None, meta=meta)
            else:
                message_id = self.store.add_message(
                    generation.conversation_id, "assistant", content, parent=place.question,
                    state=state,
                    # What the next prompt holds of this answer: its text, never its
                    # reasoning (counted from the text afterwards, Answering.count).
                    tokens=completion if usage and not reasoning else None,
                    sources=generation.sources or None, meta=meta,
                    reasoning=reasoning or None)
        except StoreFull as exc:
            log.error("could not store the answer: the database's disk is full")
            state, error = "error", str(exc)
        except Exception:
            log.exception("could not store the answer")
            state, error = "error", "The answer could not be saved. Please try again."
        return Ending(state, message_id, final_usage, error, finish_reason,
                      meta["tokens_per_s"], reasoning, thought_s)

    def announce(self, generation: Generation, ending: Ending) -> None:
        """Count the outcome and tell the room: `error` or `done`, then `status: idle`."""
        room = generation.conversation_id
        self.metrics.answers.labels(outcome=ending.state).inc()
        self.metrics.tokens.inc(generation.tokens)
        if ending.state == "error":
            self.emit("error", {"message": ending.error or "The answer failed."}, room)
        else:
            if generation.tokens > 1:
                self.metrics.tokens_per_s.observe(ending.tokens_per_s)
            self.emit("done", {"usage": ending.usage, "tokens_per_s": ending.tokens_per_s,
                               "sources": generation.sources, "id": ending.message_id,
                               "stopped": ending.state == "stopped",
                               "finish_reason": ending.finish_reason,
                               "model": generation.model,
                               **({"reasoning": ending.reasoning, "thought_s": ending.thought_s}
                                  if ending.reasoning else {}),
                               **({"seen": generation.seen} if generation.seen else {}),
                               **({"not_covered": generation.not_covered}
                                  if generation.not_covered else {})}, room)
        self.emit("status", {"state": "idle"}, room)
