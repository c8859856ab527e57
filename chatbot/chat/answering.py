"""The steps of one answer, written once for the page (chat.py) and the terminal
(cli/terminal_chat.py): settings and model, budget, retrieval, the prompt (`prepare`); what
is shown before the model's text, the request upstream relayed, the citation (`write`); what
the answer's sources and "what the model saw" say at the end (`conclude`); its tokens counted
for the next turn (`count`). The callers differ only in what surrounds them: the page waits
for a slot and tells a room, the terminal prints and stops on Ctrl-C.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatbot.chat.budget import Budget
from chatbot.chat.grounding import Grounding
from chatbot.chat.llm import LLMClient
from chatbot.chat.llm_stream import ChatStream
from chatbot.chat.passages import Retrieval, annotate, attribution
from chatbot.chat.prompt import Prompt, PromptBuilder
from chatbot.chat.streaming import Generation, Streamer
from chatbot.db.rows import Conversation, Message
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


# What the user reads when an answer fails for a reason they cannot act on (it is logged).
FAILED = "Something went wrong while answering. Please try again."


@dataclass(frozen=True)
class Written:
    """What the model's stream said of itself (both None when no model was asked)."""

    usage: dict[str, int] | None = None
    finish_reason: str | None = None


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
        place = self.prompts.transcript.place(generation)
        if place.answer is not None:
            return self._continuing(conversation, generation, budget, chat, place.answer)
        retrieval = self.grounding.retrieve(conversation.id, chat, budget, generation.viewer,
                                            generation.once, completion=completion,
                                            follows=place.parent)
        generation.sources = retrieval.sources
        ask = Ask(chat, budget, retrieval, None)
        ask.seen = {"retrieving_s": round(retrieval.retrieving_s, 3)} if grounded else {}
        if retrieval.strength is not None:
            ask.seen["evidence"] = retrieval.strength
        if retrieval.unknown:
            ask.seen["unknown"] = retrieval.unknown
        if retrieval.left_out:
            ask.seen["left_out"] = retrieval.left_out
        if retrieval.answer:
            self.prompts.transcript.add_question(generation, budget.question_tokens)
            ask.preface = retrieval.answer
            return ask
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

    def _continuing(self, conversation: Conversation, generation: Generation, budget: Budget,
                    chat: ChatSettings, answer: Message) -> Ask:
        """A stopped or cut answer, gone on with: the same sources and notes, a prompt that
        ends with its text (never searched again: the passages it read are in its words)."""
        generation.sources = answer.sources or []
        completion = not self.llm.has_chat_template(generation.model)
        ask = Ask(chat, budget, Retrieval(),
                  self.prompts.continuation(conversation, generation, budget, completion))
        ask.seen = dict((answer.meta or {}).get("seen") or {})
        return ask

    def open(self, ask: Ask, generation: Generation) -> ChatStream:
        """The model's streamed answer; raises LLMError when it cannot start."""
        prompt = ask.prompt
        assert prompt is not None
        ask.opened_at = time.monotonic()
        if prompt.completion:
            return self.llm.stream_completion(
                prompt.completion, model=generation.model, temperature=ask.chat.temperature,
                top_p=ask.chat.top_p, max_tokens=prompt.answer_tokens, stop=list(prompt.stop))
        return self.llm.stream_chat(prompt.messages, model=generation.model,
                                    temperature=ask.chat.temperature, top_p=ask.chat.top_p,
                                    max_tokens=prompt.answer_tokens)

    def write(self, ask: Ask, generation: Generation, streamer: Streamer,
              generating: Callable[[], bool] | None = None) -> Written | None:
        """The answer's text through `streamer`: the preface at once, then, when the prompt
        goes to the model, its stream relayed and the citation it left out. `generating`
        runs just before the model is asked (the page waits for a slot there); False from
        it: the answer was stopped first, and None is returned."""
        if ask.preface:  # shown now: it needs neither a slot nor the model
            streamer.add_text(generation, ask.preface)
        if ask.prompt is None:
            return Written()
        if generating is not None and not generating():
            return None
        stream = self.open(ask, generation)
        try:
            streamer.relay(generation, stream)
        finally:
            stream.close()  # upstream stops generating too: stopped, or a failure
        if citation := self.citation(ask, generation):
            streamer.add_text(generation, citation)
        return Written(stream.usage, stream.finish_reason)

    def count(self, ask: Ask, written: Written, answer_id: int | None,
              generation: Generation) -> None:
        """The stored answer's tokens, for the next turn's budget, when the server's usage
        does not give them (or leaves out a preface it did not write, or counts reasoning
        the next turn will not send). Called after the
        answer was announced, so that the next turn need not wait for it."""
        if answer_id is not None and (written.usage is None or ask.preface
                                      or generation.reasoning):
            ask.budget.count_answer(answer_id, "".join(generation.parts))

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
