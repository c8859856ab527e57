"""The messages sent upstream for one answer.

The prompt of turn N+1 must start with the prompt of turn N, token for token, for llama.cpp
to reuse its cache: same system prompt, history verbatim, and retrieved passages only inside
the newest user message. When history no longer fits (see budget.py), the oldest turns are
dropped and the user is told once per conversation.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.budget import Budget
from chatbot.common import Emit
from chatbot.metrics import Metrics
from chatbot.store import Conversation, Message, Store
from chatbot.streaming import Generation
from chatbot.transcript import Transcript

TRUNCATION_NOTICE = ("Older messages of this conversation no longer fit in the model's "
                     "context, so the model no longer sees them. They stay here for you.")


@dataclass(frozen=True)
class Prompt:
    messages: list[dict[str, str]]
    answer_tokens: int  # max_tokens to request


class PromptBuilder:
    def __init__(self, store: Store, transcript: Transcript, metrics: Metrics, emit: Emit):
        self.store = store
        self.transcript = transcript
        self.metrics = metrics
        self.emit = emit

    def build(self, conversation: Conversation, generation: Generation, budget: Budget,
              context: str) -> Prompt:
        """The prompt answering `generation.text` with `context` (retrieved text, or "")
        before it; stores the user's message."""
        history = prompt_history(self.store.messages(conversation.id))
        plan = budget.fit(context, history, conversation.context_start)
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
        return Prompt(messages, plan.answer_tokens)


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
