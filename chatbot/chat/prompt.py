"""The messages sent upstream for one answer.

The prompt of turn N+1 must start with the prompt of turn N, token for token, for llama.cpp
to reuse its cache: same system prompt, history verbatim, and retrieved passages only inside
the newest user message. When history no longer fits (see budget.py), the oldest turns are
dropped and the user is told once per conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chatbot.chat.budget import MIN_ANSWER_TOKENS, SAFETY_TOKENS, Budget
from chatbot.chat.continuation import STOP as TRANSCRIPT_STOP
from chatbot.chat.continuation import transcript_prompt
from chatbot.chat.grounded_prompt import COMPLETION_EXAMPLE, COMPLETION_STOP, completion_prompt
from chatbot.chat.streaming import Generation
from chatbot.chat.transcript import Transcript
from chatbot.common import Emit
from chatbot.db.rows import Conversation, Message
from chatbot.db.store import Store
from chatbot.errors import MessageTooLong
from chatbot.metrics import Metrics

TRUNCATION_NOTICE = ("Older messages of this conversation no longer fit in the model's "
                     "context, so the model no longer sees them. They stay here for you.")


# A grounded completion stops at the end of its paragraph; this bounds a model that doesn't.
COMPLETION_MAX_TOKENS = 160


@dataclass(frozen=True)
class Prompt:
    messages: list[dict[str, str]]  # a chat request's; [] for a completion
    answer_tokens: int  # max_tokens to request
    completion: str = ""  # a base model's completion prompt
    stop: tuple[str, ...] = tuple(COMPLETION_STOP)  # where a completion ends
    # Tokens of each part, for "what the model saw".
    parts: dict[str, int] = field(default_factory=dict)


class PromptBuilder:
    def __init__(self, store: Store, transcript: Transcript, metrics: Metrics, emit: Emit):
        self.store = store
        self.transcript = transcript
        self.metrics = metrics
        self.emit = emit

    def build(self, conversation: Conversation, generation: Generation, budget: Budget,
              context: str) -> Prompt:
        """The prompt answering `generation.text` with `context` (retrieved text, or "")
        before it; stores the user's message. The history is the path the question follows
        (versions beside it are not the model's business)."""
        place = self.transcript.place(generation)
        history = prompt_history(self.store.ancestors(conversation.id, place.parent))
        plan = budget.fit(context, history, window_start(conversation, history))
        user_id = self.transcript.add_question(generation, budget.question_tokens)
        first_id = plan.first_id if plan.first_id is not None else user_id
        if plan.dropped:
            self.metrics.dropped_history.inc()
            if not conversation.truncation_noticed:
                self.emit("notice", {"text": TRUNCATION_NOTICE, "level": "warning",
                                     "context_from": first_id}, conversation.id)
            self.store.set_context_start(conversation.id, first_id, noticed=True)
        generation.prompt_tokens = plan.prompt_tokens

        system = budget.chat.system_prompt
        messages = [{"role": "system", "content": system}] if system else []
        messages += [{"role": m.role, "content": m.content} for m in history if m.id >= first_id]
        user = f"{context}\n\n{generation.text}" if context else generation.text
        messages.append({"role": "user", "content": user})
        parts = {"system": budget.system_tokens, "history": plan.history_tokens,
                 "passages": budget.count(context) if context else 0,
                 "question": budget.question_tokens, "answer_room": plan.answer_tokens,
                 "prompt_tokens": plan.prompt_tokens}
        return Prompt(messages, plan.answer_tokens, parts=parts)

    def continuation(self, conversation: Conversation, generation: Generation,
                     budget: Budget, completion: bool) -> Prompt:
        """The prompt that goes on from the partial answer `generation.place.answer`: the
        path up to its question, then the answer so far as the assistant's own words (a
        chat request's last message, which llama-server continues; or, for a `completion`
        model, the transcript ending with it)."""
        place = self.transcript.place(generation)
        assert place.answer is not None
        partial = place.answer.content
        history = prompt_history(self.store.ancestors(conversation.id, place.parent))
        plan = budget.fit(partial, history, window_start(conversation, history))
        generation.prompt_tokens = plan.prompt_tokens
        system = budget.chat.system_prompt
        messages = [{"role": "system", "content": system}] if system else []
        if plan.first_id is not None:
            messages += [{"role": m.role, "content": m.content} for m in history
                         if m.id >= plan.first_id]
        messages += [{"role": "user", "content": generation.text},
                     {"role": "assistant", "content": partial}]
        parts = {"system": budget.system_tokens, "history": plan.history_tokens,
                 "question": budget.question_tokens, "answer_room": plan.answer_tokens,
                 "prompt_tokens": plan.prompt_tokens}
        if completion:
            return Prompt([], plan.answer_tokens, completion=transcript_prompt(messages),
                          stop=tuple(TRANSCRIPT_STOP), parts=parts)
        return Prompt(messages, plan.answer_tokens, parts=parts)

    def completion(self, generation: Generation, budget: Budget, documents: list[str],
                   question: str, passage_tokens: int) -> Prompt:
        """A base model's grounded prompt (grounded_prompt.py): the worked example, the
        documents, `question`; stores the user's message. History is left out: the example
        is the pattern the model follows, and a follow-up's `question` carries the question
        before it."""
        self.transcript.add_question(generation, budget.question_tokens)
        text = completion_prompt(documents, question)
        tokens = budget.count(text)
        room = budget.n_ctx - tokens - SAFETY_TOKENS
        if room < MIN_ANSWER_TOKENS:
            raise MessageTooLong(budget.question_tokens, max(0, budget.question_tokens + room))
        answer = min(budget.chat.max_tokens, COMPLETION_MAX_TOKENS, room)
        generation.prompt_tokens = tokens
        example = budget.count(COMPLETION_EXAMPLE)
        parts = {"system": example, "history": 0, "passages": passage_tokens,
                 "question": max(0, tokens - example - passage_tokens),
                 "answer_room": answer, "prompt_tokens": tokens}
        return Prompt([], answer, completion=text, parts=parts)


def window_start(conversation: Conversation, history: list[Message]) -> int:
    """Where the context window began last turn, if on this path; otherwise (it began in
    another version) the window is fitted again from the start."""
    start = conversation.context_start
    return start if any(m.id == start for m in history) else 0


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
