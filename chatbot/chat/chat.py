"""One answer, from the user's message to `done`, in order: settings, budget, retrieval,
prompt, a slot, the stream, the ending.

Each step has its own module (budget.py, grounding.py, prompt.py, slots.py, streaming.py,
transcript.py); this one runs them in the answer's worker thread, keeps the answers being
written (one per conversation), and stops them. Socket.IO is reached only through the
`emit(event, payload, room)` callable, so these modules hold the product's rules and
the socket events (sockets/) only the wiring. Everything a browser sees about an answer goes to the
conversation's room: a second tab on the same conversation watches it stream too, on this
instance or, with REDIS_URL, on another; the bus (bus.py) keeps the one-answer rule and
carries stops across instances.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from chatbot import logs
from chatbot.accounts.viewer import Viewer
from chatbot.bus import Bus
from chatbot.chat.answering import FAILED, Answering
from chatbot.chat.grounding import OneOff
from chatbot.chat.llm import LLMClient
from chatbot.chat.slots import SlotQueue
from chatbot.chat.streaming import Generation, Place, Streamer
from chatbot.chat.transcript import Transcript
from chatbot.common import Emit, Spawn
from chatbot.db.rows import Conversation
from chatbot.db.store import Store
from chatbot.errors import BusDown, LLMError, MessageTooLong, StoreFull
from chatbot.metrics import Metrics
from chatbot.settings import Settings

log = logging.getLogger("chatbot.chat.chat")

BUSY = "An answer is still being written in this conversation. Stop it or wait for it to finish."


class Chat:
    def __init__(self, *, settings: Settings, store: Store, llm: LLMClient,
                 answering: Answering, slots: SlotQueue,
                 streamer: Streamer, transcript: Transcript, metrics: Metrics, emit: Emit,
                 spawn: Spawn, bus: Bus):
        self.settings = settings
        self.store = store
        self.llm = llm
        self.answering = answering
        self.slots = slots
        self.streamer = streamer
        self.transcript = transcript
        self.metrics = metrics
        self.emit = emit
        self.spawn = spawn
        self.bus = bus
        # The answers this instance is writing; the bus knows those of the others.
        self._active: dict[str, Generation] = {}
        self._lock = threading.Lock()
        bus.listen(self._stop_here)

    def active(self, conversation_id: str) -> Generation | None:
        with self._lock:
            return self._active.get(conversation_id)

    def answering_elsewhere(self, conversation_id: str) -> str | None:
        """The id of the answer another instance is writing in the conversation, if any."""
        return self.bus.elsewhere(conversation_id)

    def busy(self, conversation_id: str) -> bool:
        """Whether an answer is being written in the conversation, here or elsewhere."""
        return (self.active(conversation_id) is not None
                or self.answering_elsewhere(conversation_id) is not None)

    def answer(self, conversation: Conversation, text: str, viewer: Viewer,
               on_stored: Callable[[int], None] | None = None,
               prepare: Callable[[], Conversation] | None = None,
               once: OneOff | None = None, place: Place | None = None,
               after: Callable[[], None] | None = None) -> str | None:
        """Start answering `text` for `viewer` in the background; an error message if it
        cannot start. `on_stored` runs once the user's message is saved (it may have titled
        the chat). `prepare` runs once the conversation is claimed and before the answer
        starts, so that what it changes (regenerate and edit remove turns) is changed only
        when the answer will follow; it returns the conversation as it left it. `once`: a
        command's grounding for this answer (Grounding.retrieve). `place`: where the answer
        goes (streaming.Place; None: after the conversation's last shown message). `after`
        runs once the answer's ending was told."""
        generation = Generation(conversation.id, text, viewer, on_stored, once, place, after)
        with self._lock:
            if conversation.id in self._active:
                return BUSY
            try:
                if not self.bus.claim(conversation.id):
                    return BUSY
            except BusDown as exc:
                return str(exc)
            self._active[conversation.id] = generation
        if prepare is not None:
            try:
                conversation = prepare()
            except BaseException:
                with self._lock:
                    del self._active[conversation.id]
                    self.bus.release(conversation.id)
                raise
        # Claimed, so no other answer moves the end of the conversation meanwhile.
        self.transcript.place(generation)
        self.spawn(self._run, conversation, generation)
        return None

    def stop(self, conversation_id: str, shown: int | None = None) -> bool:
        """End the answer now for the user; the worker closes the upstream stream.
        `shown`: how many pieces the stopping browser had displayed; the kept answer is
        exactly what that user saw, not the few pieces still in flight. An answer another
        instance is writing is stopped there. False when no answer was being written."""
        return self._stop_here(conversation_id, shown) or self.bus.stop(conversation_id, shown)

    def _stop_here(self, conversation_id: str, shown: int | None) -> bool:
        generation = self.active(conversation_id)
        if generation is None:
            return False
        generation.cancelled.set()
        self.slots.wake()
        self._finish(generation, "stopped", shown=shown)
        return True

    # The worker -----------------------------------------------------------------------

    def _run(self, conversation: Conversation, generation: Generation) -> None:
        # Every line logged while answering (grounding, the transcript, a failure) names the
        # conversation, so one answer's lines can be found among many users'.
        with logs.context(conversation=conversation.id):
            self._answer(conversation, generation)

    def _answer(self, conversation: Conversation, generation: Generation) -> None:
        holding_slot = False
        queued_s: float | None = None

        def generating() -> bool:
            """Wait for a slot; then the room is told the model is writing."""
            nonlocal holding_slot, queued_s
            waiting = time.monotonic()
            if not self._take_slot(generation):
                return False
            holding_slot = True
            queued_s = time.monotonic() - waiting
            self.metrics.generating.inc()
            if generation.cancelled.is_set():
                return False
            self.emit("status", {"state": "generating", "model": generation.model},
                      conversation.id)
            return True

        try:
            ask = self.answering.prepare(conversation, generation)
            written = self.answering.write(ask, generation, self.streamer, generating)
            if written is None:
                return
            self.answering.conclude(ask, generation, queued_s)
            answer_id = self._finish(generation, "done", usage=written.usage,
                                     finish_reason=written.finish_reason)
            self.answering.count(ask, written, answer_id, generation)
        except (LLMError, MessageTooLong, StoreFull) as exc:
            self.streamer.flush(generation)  # the pieces before the failure are kept
            self._finish(generation, "error", error=str(exc))
        except Exception:
            log.exception("answer failed")
            self._finish(generation, "error", error=FAILED)
        finally:
            if holding_slot:
                self.metrics.generating.dec()
                self.slots.release(generation.viewer.key)

    def _take_slot(self, generation: Generation) -> bool:
        """Wait for an upstream slot, showing the room its place in the queue; False when
        the answer was stopped first."""
        def show_position(ahead: int) -> None:
            self.emit("status", {"state": "queued", "position": ahead},
                      generation.conversation_id)

        if self.settings.llm_concurrency is None:
            self.slots.resize(self.llm.slots())
        return self.slots.acquire(generation.viewer.key, generation.cancelled, show_position)

    def _finish(self, generation: Generation, state: str, *, error: str | None = None,
                usage: dict[str, int] | None = None, finish_reason: str | None = None,
                shown: int | None = None) -> int | None:
        """Store the answer, free its conversation for the next message, then tell the
        room (in that order: a `done` the browser saw is never lost, and a message sent on
        seeing it is not refused as overlapping). The stored answer's id; None when the
        answer had already ended or could not be stored."""
        try:
            closed = self.transcript.close(generation, state, error=error, usage=usage,
                                           finish_reason=finish_reason, shown=shown)
        finally:
            if generation.finished:
                with self._lock:
                    if self._active.get(generation.conversation_id) is generation:
                        del self._active[generation.conversation_id]
                        # Under the lock: a message arriving now finds the claim gone too.
                        self.bus.release(generation.conversation_id)
        if closed is None:
            return None
        self.transcript.announce(generation, closed)
        if generation.after is not None:
            generation.after()
        return closed.message_id
