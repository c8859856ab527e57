"""The answer being written, and its tokens relayed to the conversation's room.

Per token the work is a list append and at most one emit. Each `token` event costs the
chatbot and every browser a thread hand-off and a WebSocket frame, taken from llama.cpp's
cores: a piece arriving within CHAT_STREAM_INTERVAL_MS of the last event waits for the next
piece (never longer than one gap between tokens) and they go out as one event.

A reasoning model's thoughts (`Thought` pieces, thinking.py) are kept apart from the answer
and relayed as `reasoning` events under the same rule, so a client that knows only `token`
gets the answer alone.

What was sent is recorded as piece boundaries, so that a stop keeps exactly the text the
stopping browser displayed, and a tab joining mid-answer gets every piece exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chatbot.accounts.viewer import Viewer
from chatbot.chat.grounding import OneOff
from chatbot.chat.thinking import Thought
from chatbot.common import Emit
from chatbot.db.rows import Message
from chatbot.metrics import Metrics


@dataclass(frozen=True)
class Place:
    """Where an answer goes in the conversation's tree (db/tree.py)."""

    parent: int | None  # the message its question follows
    question: int | None = None  # the question, when it is stored already (regenerating)
    answer: Message | None = None  # the stored answer being continued


class Generation:
    """The answer being written for one conversation."""

    def __init__(self, conversation_id: str, text: str, viewer: Viewer,
                 on_stored: Callable[[int], None] | None = None, once: OneOff | None = None,
                 place: Place | None = None, after: Callable[[], None] | None = None):
        self.conversation_id = conversation_id
        self.text = text
        self.viewer = viewer  # whose answer: their documents, their turn in the queue
        self.on_stored = on_stored  # with the question's id, once it is stored
        # None: after the last message the conversation shows, found once it is claimed.
        self.place = place
        self.after = after  # runs once the ending was told
        # A command's grounding (`/summarize URL`, `/rag QUESTION`), kept with the question
        # so that regenerating the answer grounds it the same way.
        self.once = once
        self.parts: list[str] = []  # every token received
        # len(parts) after each `token` event: an event carries parts[previous end:end].
        self.piece_ends: list[int] = []
        self.reasoning: list[str] = []  # every piece of the model's reasoning received
        self.reasoning_sent = 0  # of those, how many the browsers have been sent
        self.thinking_from: float | None = None  # the first piece of reasoning's arrival
        self.thinking_until: float | None = None  # the last's, or the answer's first token
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
        self.seen: dict[str, Any] = {}  # what the model saw (answering.py)
        self.not_covered: dict[str, Any] | None = None
        self.user_stored = False
        if place is not None and place.answer is not None:
            # Continued: its text so far is the first piece, already shown everywhere.
            self.parts.append(place.answer.content)
            self.piece_ends.append(1)
            self.user_stored = True
        elif place is not None and place.question is not None:
            self.user_stored = True

    @property
    def continuing(self) -> bool:
        return self.place is not None and self.place.answer is not None

    @property
    def sent(self) -> int:
        """Tokens the browsers have been sent."""
        return self.piece_ends[-1] if self.piece_ends else 0

    def snapshot(self) -> dict[str, Any]:
        shown = {"text": "".join(self.parts[: self.sent]), "user": self.text}
        if self.reasoning_sent:
            shown["reasoning"] = "".join(self.reasoning[: self.reasoning_sent])
        return shown

    def thought_s(self) -> float | None:
        """How long the model reasoned before answering; None when it did not."""
        if self.thinking_from is None or self.thinking_until is None:
            return None
        return round(self.thinking_until - self.thinking_from, 1)

    def tokens_per_s(self) -> float:
        if self.tokens < 2 or self.first_token_at is None or self.last_token_at is None:
            return 0.0
        elapsed = self.last_token_at - self.first_token_at
        return round((self.tokens - 1) / elapsed, 2) if elapsed > 0 else 0.0

    def keep_shown(self, shown: int | None) -> str:
        """Cut the answer to what was shown and return it: the pieces sent (tokens still
        waiting never were), or the first `shown` of them when the stopping browser says
        so. The caller holds `lock`."""
        ends = self.piece_ends if shown is None else self.piece_ends[:shown]
        end = ends[-1] if ends else 0
        del self.parts[end:]
        del self.reasoning[self.reasoning_sent:]
        self.tokens = min(self.tokens, end)
        return "".join(self.parts)


class Streamer:
    def __init__(self, emit: Emit, metrics: Metrics, interval_ms: int):
        self.emit = emit
        self.metrics = metrics
        self.interval = interval_ms / 1000

    def relay(self, generation: Generation, stream: Iterable[str]) -> None:
        """Send the stream's pieces to the room until it ends, the answer is stopped, or it
        was finished meanwhile (a stop, a deleted conversation)."""
        last_emit = 0.0
        for piece in stream:
            if generation.cancelled.is_set():
                break
            now = time.monotonic()
            with generation.lock:
                if generation.finished:
                    break
                if piece.__class__ is Thought:
                    self._think(generation, piece, now)
                    if now - last_emit >= self.interval:
                        self._send_reasoning(generation)
                        last_emit = now
                    continue
                if (generation.first_token_at is None and generation.parts
                        and not generation.continuing):
                    # The model's text after a quote starts its own paragraph.
                    piece = piece.lstrip()
                    if not piece:
                        continue
                if generation.first_token_at is None:
                    generation.first_token_at = now
                    self.metrics.first_token.observe(now - generation.started)
                    if generation.reasoning:  # the thinking is over: all of it goes first
                        generation.thinking_until = now
                        self._send_reasoning(generation)
                generation.last_token_at = now
                generation.tokens += 1
                generation.parts.append(piece)
                if now - last_emit >= self.interval:
                    self._send_pending(generation)
                    last_emit = now
        self.flush(generation)

    def add_text(self, generation: Generation, text: str) -> None:
        """Send text that is not the model's: a quote before it, the whole answer when the
        documents do not cover the question, a citation after it."""
        with generation.lock:
            if not generation.cancelled.is_set() and not generation.finished:
                generation.parts.append(text)
                self._send_pending(generation)

    def flush(self, generation: Generation) -> None:
        """Send the pieces still held back, unless the answer was stopped or finished: its
        text is then what the browsers were already sent."""
        with generation.lock:
            if not generation.cancelled.is_set() and not generation.finished:
                self._send_reasoning(generation)
                self._send_pending(generation)

    @staticmethod
    def _think(generation: Generation, piece: str, now: float) -> None:
        if generation.thinking_from is None:
            generation.thinking_from = now
        if generation.first_token_at is None:
            generation.thinking_until = now
        generation.reasoning.append(piece)

    def _send_reasoning(self, generation: Generation) -> None:
        """Emit the reasoning not sent yet as one piece; the caller holds the lock."""
        start = generation.reasoning_sent
        if start == len(generation.reasoning):
            return
        generation.reasoning_sent = len(generation.reasoning)
        self.emit("reasoning", {"text": "".join(generation.reasoning[start:])},
                  generation.conversation_id)

    def _send_pending(self, generation: Generation) -> None:
        """Emit the tokens not sent yet as one piece; the caller holds `generation.lock`."""
        start = generation.sent
        if start == len(generation.parts):
            return
        generation.piece_ends.append(len(generation.parts))
        self.emit("token", {"text": "".join(generation.parts[start:])},
                  generation.conversation_id)
