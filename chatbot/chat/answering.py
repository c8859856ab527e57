"""The steps of one answer that the page (chat.py) and the terminal (terminal_chat.py) share:
settings and model, budget, retrieval, the prompt, what is shown before the model's text,
the request upstream, and what the answer's sources and "what the model saw" say at the end.

A grounded answer takes one of three shapes:
- not covered: the best evidence is under RAG_MIN_EVIDENCE, so the answer says the
  documents do not seem to cover the question and what was searched, with no model call;
- a quote: the passage sentence that best matches the question, quoted with its citation,
  shown as soon as retrieval is done (before a slot is free, before the model reads);
- the model's own answer, after the quote or instead of it (RAG_ANSWER).
Whatever the user reads is the answer's text: streamed as `token` events, stored, exported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from chatbot.chat.budget import Budget
from chatbot.chat.grounded_prompt import COMPLETION_STOP
from chatbot.chat.grounding import Grounding
from chatbot.chat.llm import ChatStream, LLMClient
from chatbot.chat.passages import Retrieval, annotate, attribution
from chatbot.chat.prompt import Prompt, PromptBuilder
from chatbot.chat.streaming import Generation
from chatbot.db.store import Conversation
from chatbot.settings import ChatSettings, Settings


@dataclass
class Ask:
    """One answer, prepared: what to show first and what to ask the model."""

    chat: ChatSettings
    budget: Budget
    retrieval: Retrieval
    prompt: Prompt | None  # None: the preface is the whole answer
    preface: str = ""
    seen: dict[str, Any] = field(default_factory=dict)
    opened_at: float | None = None


def not_covered_text(info: dict[str, Any]) -> str:
    unknown = ", ".join(f"“{w}”" for w in info.get("unknown", []))
    why = f": they never mention {unknown}" if unknown else ""
    closest = ", ".join(f"“{c['title']}”" for c in info.get("closest", []) if c.get("title"))
    nearest = f" The closest passages were in {closest}." if closest else ""
    return (f"Your documents do not seem to cover this{why}. I searched the collection "
            f"`{info['collection']}` for “{' '.join(info['query'].split())}”.{nearest}")


class Answering:
    def __init__(self, settings: Settings, llm: LLMClient, grounding: Grounding,
                 prompts: PromptBuilder):
        self.settings = settings
        self.llm = llm
        self.grounding = grounding
        self.prompts = prompts

    def _completion(self, model: str) -> bool:
        """Whether grounded questions go to `model` as a completion prompt."""
        if self.settings.rag_prompt != "auto":
            return self.settings.rag_prompt == "completion"
        return not self.llm.has_chat_template(model)

    def _answer_mode(self, completion: bool) -> str:
        if self.settings.rag_answer != "auto":
            return self.settings.rag_answer
        return "both" if completion else "generate"

    def prepare(self, conversation: Conversation, generation: Generation) -> Ask:
        """Everything up to the request upstream; stores the user's message."""
        chat = ChatSettings.load(self.settings, conversation.settings)
        generation.model = chat.model or self.llm.default_model()
        budget = Budget(self.llm, self.prompts.store, chat, generation.model, generation.text)
        grounded = generation.once is not None or chat.rag
        completion = grounded and self._completion(generation.model)
        retrieval = self.grounding.retrieve(conversation.id, chat, budget, generation.viewer,
                                            generation.once, completion=completion)
        generation.sources = retrieval.sources
        ask = Ask(chat, budget, retrieval, None)
        ask.seen = {"retrieving_s": round(retrieval.retrieving_s, 3)} if grounded else {}
        if retrieval.strength is not None:
            ask.seen["evidence"] = retrieval.strength
        if retrieval.unknown:
            ask.seen["unknown"] = retrieval.unknown
        if retrieval.left_out:
            ask.seen["left_out"] = retrieval.left_out
        if retrieval.not_covered is not None:
            generation.not_covered = retrieval.not_covered
            self.prompts.transcript.add_question(generation, budget.question_tokens)
            ask.preface = not_covered_text(retrieval.not_covered)
            return ask
        if retrieval.documents:
            ask.prompt = self.prompts.completion(
                generation, budget, retrieval.documents, retrieval.query or generation.text,
                retrieval.passage_tokens)
        else:
            ask.prompt = self.prompts.build(conversation, generation, budget,
                                            retrieval.context)
        ask.seen.update(ask.prompt.parts)
        mode = self._answer_mode(completion)
        if retrieval.quote and mode in ("quote", "both"):
            ask.preface = retrieval.quote
            generation.sources = annotate(retrieval, retrieval.quote)
            if mode == "quote":
                ask.prompt = None
        return ask

    def open(self, ask: Ask, generation: Generation) -> ChatStream:
        """The model's streamed answer; raises LLMError when it cannot start."""
        prompt = ask.prompt
        assert prompt is not None
        ask.opened_at = time.monotonic()
        if prompt.completion:
            return self.llm.stream_completion(
                prompt.completion, model=generation.model, temperature=ask.chat.temperature,
                top_p=ask.chat.top_p, max_tokens=prompt.answer_tokens, stop=COMPLETION_STOP)
        return self.llm.stream_chat(prompt.messages, model=generation.model,
                                    temperature=ask.chat.temperature, top_p=ask.chat.top_p,
                                    max_tokens=prompt.answer_tokens)

    def citation(self, ask: Ask, generation: Generation) -> str:
        """" [n]" to end the model's grounded text with when it cites nothing but stands on
        source n (matched by words, no model call); "" otherwise. A small model often leaves
        its citation out."""
        if not ask.retrieval.evidence or generation.cancelled.is_set():
            return ""
        own = "".join(generation.parts)[len(ask.preface):]
        number = attribution(ask.retrieval, own)
        return f" [{number}]" if number is not None else ""

    def conclude(self, ask: Ask, generation: Generation, queued_s: float | None = None) -> None:
        """The sources as the finished answer cites them, and what the model saw."""
        if ask.retrieval.sources:
            generation.sources = annotate(ask.retrieval, "".join(generation.parts))
        if queued_s is not None:
            ask.seen["queued_s"] = round(queued_s, 3)
        if ask.opened_at is not None and generation.first_token_at is not None:
            ask.seen["reading_s"] = round(generation.first_token_at - ask.opened_at, 3)
        generation.seen = ask.seen
