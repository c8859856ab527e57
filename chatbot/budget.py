"""Context budgeting: which history goes upstream so the prompt always fits with room to answer.

The prompt is system prompt + retrieved context + history + the new message, wrapped in the
model's chat template. Content is counted with the model's tokenizer (see LLMClient); the
template's own tokens are unknown to us (it lives in the server), so a fixed allowance per
message and per prompt covers them.

Dropping history breaks llama.cpp's prefix cache (the next prompt no longer starts with the
previous one), so when the history overflows we drop the oldest turns down to a fraction of
the budget rather than exactly to it: the following turns then fit without dropping again
and keep reusing the cache.
"""

from __future__ import annotations

from dataclasses import dataclass

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


class MessageTooLong(Exception):
    """The new message (with system prompt and context) leaves no room for an answer."""

    def __init__(self, tokens: int, limit: int):
        super().__init__(
            f"Your message is too long for the model's context: about {tokens} tokens, "
            f"at most {limit} fit. Shorten it or start a new conversation.")
        self.tokens = tokens
        self.limit = limit


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
                dropped=dropped)
