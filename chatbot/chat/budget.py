"""Context budgeting: which history goes upstream so the prompt always fits with room to answer.

The prompt is system prompt + retrieved context + history + the new message, wrapped in the
model's chat template. Content is counted with the model's tokenizer (see LLMClient); the
template's own tokens are unknown to us (it lives in the server), so a fixed allowance per
message and per prompt covers them.

`Budget` is where one answer's texts are counted, each once (a count may be a request to the
LLM server): it gives retrieval its room and makes the plan. `plan` is the arithmetic.

Dropping history breaks llama.cpp's prefix cache (the next prompt no longer starts with the
previous one), so when the history overflows we drop the oldest turns down to a fraction of
the budget rather than exactly to it: the following turns then fit without dropping again
and keep reusing the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from chatbot.chat.llm import LLMClient
from chatbot.db.rows import Message
from chatbot.db.store import Store
from chatbot.errors import MessageTooLong
from chatbot.settings import ChatSettings

# Chat templates add role markers around each message ("<start_of_turn>user\n", "User: ").
PER_MESSAGE_TOKENS = 8
# Template text outside the messages: BOS, a default preamble, a worked example (llmserver's
# transcript format for base models spends about 60 tokens on these).
PER_PROMPT_TOKENS = 96
# Tokenizers differ at the joins between messages and on whitespace: a little slack.
SAFETY_TOKENS = 32
# After an overflow, keep history under this share of its budget (see module docstring).
REFILL_SHARE = 0.75
# Below this the answer would be cut off mid-sentence; better to refuse the message.
MIN_ANSWER_TOKENS = 64



@dataclass(frozen=True)
class Turn:
    """A message of the history as the budget sees it."""

    id: int
    role: str
    tokens: int


@dataclass(frozen=True)
class Plan:
    first_id: int | None  # id of the oldest history message sent; None: no history fits
    answer_tokens: int  # max_tokens to request
    prompt_tokens: int  # estimated tokens of the whole prompt
    dropped: bool  # this plan drops turns that the previous one still sent
    history_tokens: int = 0  # of the turns sent


def plan(*, n_ctx: int, max_answer: int, fixed_tokens: int, new_tokens: int,
         history: list[Turn], start_id: int = 0) -> Plan:
    """Choose the history window and answer length for one request.

    `fixed_tokens` counts what is always sent besides the history and new message (system
    prompt, retrieved passages); `history` is oldest first; `start_id` is where the window
    began last turn (history before it was already dropped and stays dropped).
    """
    overhead = PER_PROMPT_TOKENS + SAFETY_TOKENS + PER_MESSAGE_TOKENS  # the new message's
    must = overhead + fixed_tokens + new_tokens
    answer = min(max_answer, n_ctx - must)
    if answer < min(max_answer, MIN_ANSWER_TOKENS):
        limit = max(0, n_ctx - overhead - fixed_tokens - min(max_answer, MIN_ANSWER_TOKENS))
        raise MessageTooLong(new_tokens, limit)
    room = n_ctx - must - answer

    window = [t for t in history if t.id >= start_id]
    costs = [t.tokens + PER_MESSAGE_TOKENS for t in window]
    total = sum(costs)
    dropped = False
    if total > room:
        dropped = True
        target = int(room * REFILL_SHARE)
        cut = 0
        while cut < len(window) and total > target:
            total -= costs[cut]
            cut += 1
        # Start at a user message: an answer without its question confuses the model, and
        # some chat templates reject a conversation that opens with the assistant.
        while cut < len(window) and window[cut].role != "user":
            total -= costs[cut]
            cut += 1
        window = window[cut:]
    first_id = window[0].id if window else None
    return Plan(first_id=first_id, answer_tokens=answer, prompt_tokens=must + total,
                dropped=dropped, history_tokens=total)


class Budget:
    """The token side of one answer. Stored messages keep their count in the store, so a
    history message is counted once ever; an answer streamed without a usage report is
    counted after `done` (`count_answer`)."""

    def __init__(self, llm: LLMClient, store: Store, chat: ChatSettings, model: str,
                 question: str):
        self._llm = llm
        self._store = store
        self.chat = chat
        self.model = model
        self.question = question

    def count(self, text: str) -> int:
        return self._llm.count_tokens(text, self.model)

    @cached_property
    def n_ctx(self) -> int:
        return self._llm.n_ctx()

    @cached_property
    def system_tokens(self) -> int:
        return self.count(self.chat.system_prompt)

    @cached_property
    def question_tokens(self) -> int:
        return self.count(self.question)

    def context_room(self, share: float) -> int:
        """Tokens retrieved text may use: `share` of what the system prompt, the question
        and the answer leave; history makes way for it, not the other way."""
        fixed = (PER_PROMPT_TOKENS + SAFETY_TOKENS + 2 * PER_MESSAGE_TOKENS
                 + self.system_tokens + self.question_tokens
                 + min(self.chat.max_tokens, self.n_ctx // 2))
        return int(max(0, self.n_ctx - fixed) * share)

    def fit(self, context: str, history: list[Message], start_id: int) -> Plan:
        """The plan for this answer's prompt: `context` goes into the new message, `history`
        (as the model should see it, oldest first) is cut to fit."""
        turns = [Turn(m.id, m.role, self._stored_count(m)) for m in history]
        return plan(n_ctx=self.n_ctx, max_answer=self.chat.max_tokens,
                    fixed_tokens=self.system_tokens + self.count(context),
                    new_tokens=self.question_tokens, history=turns, start_id=start_id)

    def count_answer(self, message_id: int, text: str) -> None:
        self._store.set_tokens(message_id, self.count(text))

    def _stored_count(self, message: Message) -> int:
        if message.tokens is None:
            message.tokens = self.count(message.content)
            self._store.set_tokens(message.id, message.tokens)
        return message.tokens
