"""One answer, from the user's message to `done`: budget, queue, stream, stop, persist.

Socket.IO is reached only through the `emit(event, payload, room)` callable given to Chat,
so this module holds the product's rules and the socket module only the wiring. Everything
a browser sees about an answer goes to the conversation's room: a second tab on the same
conversation watches it stream too.

Per token the work is a list append and at most one emit; the database is written once per answer
(before `done`, so a `done` the browser saw is never lost).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatbot import budget
from chatbot.grounding import Grounding
from chatbot.llm import ChatStream, LLMClient, LLMError
from chatbot.metrics import Metrics
from chatbot.settings import ChatSettings, Settings
from chatbot.store import Conversation, Message, Store

log = logging.getLogger("chatbot.chat")

Emit = Callable[[str, dict[str, Any], str], None]
Spawn = Callable[..., Any]

TRUNCATION_NOTICE = ("Older messages of this conversation no longer fit in the model's "
                     "context, so the model no longer sees them. They stay here for you.")


@dataclass
class Retrieval:
    """What retrieval adds to one answer: text for the prompt, and links for the reader."""

    context: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)


class SlotQueue:
    """First come, first served access to the LLM server's generation slots.

    The server generates for as many requests at once as it has slots; a request sent
    while they are all busy just waits upstream with no way to tell the user why. Queueing
    here instead lets a waiting user see their position and cancel without ever touching
    the server.
    """

    def __init__(self, slots: int, metrics: Metrics):
        self._cond = threading.Condition()
        self._total = slots
        self._free = slots
        self._waiting: deque[object] = deque()
        self._metrics = metrics

    def acquire(self, cancelled: threading.Event, on_position: Callable[[int], None]) -> bool:
        """Wait for a slot; False if cancelled first. `on_position(n)`: n answers ahead."""
        ticket = object()
        shown = 0
        with self._cond:
            self._waiting.append(ticket)
            self._metrics.queued.set(len(self._waiting))
            try:
                while not cancelled.is_set():
                    position = self._waiting.index(ticket)
                    if position == 0 and self._free > 0:
                        self._free -= 1
                        return True
                    ahead = position + 1
                    if ahead != shown:
                        on_position(ahead)
                        shown = ahead
                    self._cond.wait(timeout=1.0)
                return False
            finally:
                self._waiting.remove(ticket)
                self._metrics.queued.set(len(self._waiting))
                self._cond.notify_all()

    def resize(self, slots: int) -> None:
        """Follow the server's slot count (it may be restarted with another)."""
        with self._cond:
            if slots != self._total:
                self._free += slots - self._total
                self._total = slots
                self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class Generation:
    """The answer being written for one conversation."""

    def __init__(self, conversation_id: str, text: str,
                 on_stored: Callable[[], None] | None = None):
        self.conversation_id = conversation_id
        self.text = text
        self.on_stored = on_stored
        self.parts: list[str] = []  # every token received
        # len(parts) after each `token` event: an event carries parts[previous end:end].
        self.piece_ends: list[int] = []
        self.cancelled = threading.Event()
        self.finished = False
        # Held while appending+emitting a token and while a joining socket snapshots the
        # partial answer, so the newcomer gets every piece exactly once.
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.tokens = 0
        self.model = ""
        self.prompt_tokens = 0
        self.sources: list[dict[str, Any]] = []
        self.user_stored = False

    @property
    def sent(self) -> int:
        """Tokens the browsers have been sent."""
        return self.piece_ends[-1] if self.piece_ends else 0

    def snapshot(self) -> dict[str, Any]:
        return {"text": "".join(self.parts[: self.sent]), "user": self.text}

    def tokens_per_s(self) -> float:
        if self.tokens < 2 or self.first_token_at is None or self.last_token_at is None:
            return 0.0
        elapsed = self.last_token_at - self.first_token_at
        return round((self.tokens - 1) / elapsed, 2) if elapsed > 0 else 0.0


class Chat:
    def __init__(self, settings: Settings, store: Store, llm: LLMClient, metrics: Metrics,
                 emit: Emit, spawn: Spawn):
        self.settings = settings
        self.store = store
        self.llm = llm
        self.metrics = metrics
        self.emit = emit
        self.spawn = spawn
        self.slots = SlotQueue(settings.llm_concurrency or 1, metrics)
        self.grounding = Grounding(settings, store, llm, metrics, emit)
        self._active: dict[str, Generation] = {}
        self._lock = threading.Lock()

    def active(self, conversation_id: str) -> Generation | None:
        with self._lock:
            return self._active.get(conversation_id)

    def answer(self, conversation: Conversation, text: str,
               on_stored: Callable[[], None] | None = None) -> str | None:
        """Start answering `text` in the background; an error message if it cannot start.
        `on_stored` runs once the user's message is saved (it may have titled the chat)."""
        generation = Generation(conversation.id, text, on_stored)
        with self._lock:
            if conversation.id in self._active:
                return ("An answer is still being written in this conversation. "
                        "Stop it or wait for it to finish.")
            self._active[conversation.id] = generation
        self.spawn(self._run, conversation, generation)
        return None

    def stop(self, conversation_id: str, shown: int | None = None) -> bool:
        """End the answer now for the user; the worker closes the upstream stream.
        `shown`: how many pieces the stopping browser had displayed; the kept answer is
        exactly what that user saw, not the few pieces still in flight."""
        generation = self.active(conversation_id)
        if generation is None:
            return False
        generation.cancelled.set()
        self.slots.wake()
        self._finish(generation, "stopped", shown=shown)
        return True

    def retrieve(self, conversation: Conversation, text: str, chat: ChatSettings) -> Retrieval:
        """Passages for the prompt (counted in the budget, prepended to the user's message)
        and their links as `sources` (sent with `done`, stored with the answer)."""
        context, sources = self.grounding.retrieve(conversation.id, text, chat)
        return Retrieval(context, sources)

    # The worker -----------------------------------------------------------------------

    def _run(self, conversation: Conversation, generation: Generation) -> None:
        room = conversation.id
        holding_slot = False
        stream: ChatStream | None = None
        try:
            chat = ChatSettings.load(self.settings, conversation.settings)
            generation.model = chat.model or self.llm.default_model()
            retrieval = self.retrieve(conversation, generation.text, chat)
            generation.sources = retrieval.sources
            messages, answer_tokens = self._prompt(conversation, generation, chat, retrieval)

            def show_position(ahead: int) -> None:
                self.emit("status", {"state": "queued", "position": ahead}, room)

            if self.settings.llm_concurrency is None:
                self.slots.resize(self.llm.slots())
            if not self.slots.acquire(generation.cancelled, show_position):
                return
            holding_slot = True
            if generation.cancelled.is_set():
                return
            self.metrics.generating.inc()
            self.emit("status", {"state": "generating", "model": generation.model}, room)
            stream = self.llm.stream_chat(messages, model=generation.model,
                                          temperature=chat.temperature, top_p=chat.top_p,
                                          max_tokens=answer_tokens)
            # Each `token` event costs the chatbot and every browser a thread hand-off and a
            # WebSocket frame, taken from llama.cpp's cores: a piece arriving within the
            # interval of the last event waits for the next piece (never longer than one
            # gap between tokens) and they go out as one event.
            interval = self.settings.stream_interval_ms / 1000
            last_emit = 0.0
            for piece in stream:
                if generation.cancelled.is_set():
                    break
                now = time.monotonic()
                with generation.lock:
                    if generation.finished:
                        break
                    if generation.first_token_at is None:
                        generation.first_token_at = now
                        self.metrics.first_token.observe(now - generation.started)
                    generation.last_token_at = now
                    generation.tokens += 1
                    generation.parts.append(piece)
                    if now - last_emit >= interval:
                        self._send_pending(generation)
                        last_emit = now
            with generation.lock:
                if not generation.cancelled.is_set() and not generation.finished:
                    self._send_pending(generation)
            stream.close()
            answer_id = self._finish(generation, "done", usage=stream.usage,
                                     finish_reason=stream.finish_reason)
            if answer_id is not None and stream.usage is None:
                # Counted now, after `done`, so the next turn's budget need not wait for it.
                self.store.set_tokens(answer_id, self.llm.count_tokens(
                    "".join(generation.parts), generation.model))
        except (LLMError, budget.MessageTooLong) as exc:
            with generation.lock:  # the pieces that came before the failure are kept
                if not generation.finished:
                    self._send_pending(generation)
            self._finish(generation, "error", error=str(exc))
        except Exception:
            log.exception("answer failed")
            self._finish(generation, "error",
                         error="Something went wrong while answering. Please try again.")
        finally:
            if stream is not None:
                stream.close()
            if holding_slot:
                self.metrics.generating.dec()
                self.slots.release()

    def _send_pending(self, generation: Generation) -> None:
        """Emit the tokens not sent yet as one piece; the caller holds `generation.lock`."""
        start = generation.sent
        if start == len(generation.parts):
            return
        generation.piece_ends.append(len(generation.parts))
        self.emit("token", {"text": "".join(generation.parts[start:])},
                  generation.conversation_id)

    def _prompt(self, conversation: Conversation, generation: Generation, chat: ChatSettings,
                retrieval: Retrieval) -> tuple[list[dict[str, str]], int]:
        """The messages to send and the answer length; stores the user's message.

        The prompt of turn N+1 must start with the prompt of turn N, token for token, for
        llama.cpp to reuse its cache: same system prompt, history verbatim, and retrieved
        passages only inside the newest user message.
        """
        model = generation.model
        user_content = (f"{retrieval.context}\n\n{generation.text}" if retrieval.context
                        else generation.text)
        new_tokens = self.llm.count_tokens(generation.text, model)
        fixed = (self.llm.count_tokens(chat.system_prompt, model)
                 + self.llm.count_tokens(retrieval.context, model))
        history = prompt_history(self.store.messages(conversation.id))
        turns = [budget.Turn(m.id, m.role, self._tokens(m, model)) for m in history]
        plan = budget.plan(n_ctx=self.llm.n_ctx(), max_answer=chat.max_tokens,
                           fixed_tokens=fixed, new_tokens=new_tokens, history=turns,
                           start_id=conversation.context_start)

        user_id = self._store_question(generation, new_tokens)
        first_id = plan.first_id if plan.first_id is not None else user_id
        if plan.dropped:
            self.metrics.dropped_history.inc()
            if not conversation.truncation_noticed:
                self.emit("notice", {"text": TRUNCATION_NOTICE, "level": "warning",
                                     "context_from": first_id}, conversation.id)
            self.store.set_context_start(conversation.id, first_id, noticed=True)
        generation.prompt_tokens = plan.prompt_tokens

        messages = [{"role": "system", "content": chat.system_prompt}] if chat.system_prompt else []
        messages += [{"role": m.role, "content": m.content} for m in history if m.id >= first_id]
        messages.append({"role": "user", "content": user_content})
        return messages, plan.answer_tokens

    def _store_question(self, generation: Generation, tokens: int | None) -> int:
        message_id = self.store.add_message(generation.conversation_id, "user", generation.text,
                                            tokens=tokens)
        generation.user_stored = True
        if generation.on_stored:
            generation.on_stored()
        return message_id

    def _tokens(self, message: Message, model: str) -> int:
        if message.tokens is None:
            message.tokens = self.llm.count_tokens(message.content, model)
            self.store.set_tokens(message.id, message.tokens)
        return message.tokens

    def _finish(self, generation: Generation, state: str, *, error: str | None = None,
                usage: dict[str, int] | None = None, finish_reason: str | None = None,
                shown: int | None = None) -> int | None:
        """Persist the answer, then tell the room; only the first call for an answer counts.
        Returns the stored answer's id."""
        with generation.lock:
            if generation.finished:
                return None
            generation.finished = True
            # The answer is what was shown: the pieces sent (tokens still waiting never
            # were), or the first `shown` of them when the stopping browser says so.
            ends = generation.piece_ends if shown is None else generation.piece_ends[:shown]
            end = ends[-1] if ends else 0
            del generation.parts[end:]
            generation.tokens = min(generation.tokens, end)
            content = "".join(generation.parts)
        room = generation.conversation_id
        completion = (usage or {}).get("completion_tokens") or generation.tokens
        prompt = (usage or {}).get("prompt_tokens") or generation.prompt_tokens
        final_usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                       "total_tokens": prompt + completion}
        meta: dict[str, Any] = {"usage": final_usage, "tokens_per_s": generation.tokens_per_s(),
                                "model": generation.model}
        if error:
            meta["error"] = error
        if finish_reason:
            meta["finish_reason"] = finish_reason
        message_id = None
        try:
            if not generation.user_stored:
                # It failed before the question was saved (server down, message too long):
                # keep the question and the failure, as the user saw them.
                self._store_question(generation, None)
            message_id = self.store.add_message(
                generation.conversation_id, "assistant", content, state=state,
                tokens=completion if usage else None, sources=generation.sources or None,
                meta=meta)
        except Exception:
            log.exception("could not store the answer")
            state, error = "error", "The answer could not be saved. Please try again."
        finally:
            with self._lock:
                self._active.pop(generation.conversation_id, None)
        self.metrics.answers.labels(outcome=state).inc()
        self.metrics.tokens.inc(generation.tokens)
        if state == "error":
            self.emit("error", {"message": error or "The answer failed."}, room)
        else:
            if generation.tokens > 1:
                self.metrics.tokens_per_s.observe(generation.tokens_per_s())
            self.emit("done", {"usage": final_usage, "tokens_per_s": meta["tokens_per_s"],
                               "sources": generation.sources, "id": message_id,
                               "stopped": state == "stopped", "finish_reason": finish_reason,
                               "model": generation.model}, room)
        self.emit("status", {"state": "idle"}, room)
        return message_id


def prompt_history(messages: list[Message]) -> list[Message]:
    """The turns the model should see: answered ones. A failed answer and the question it
    failed on are left out, so roles still alternate user/assistant (some chat templates
    reject anything else) and the model does not imitate an error."""
    kept: list[Message] = []
    for message in messages:
        if message.role == "assistant" and message.state == "error":
            if kept and kept[-1].role == "user":
                kept.pop()
            continue
        if message.role in ("user", "assistant"):
            kept.append(message)
    if kept and kept[-1].role == "user":  # a question whose answer was never stored
        kept.pop()
    return kept
