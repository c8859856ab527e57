"""Retrieved passages made into what one grounded answer needs: the documents of its prompt,
cut to the sentences that answer; the extractive answer; the sources a reader checks it
against; and, once the answer is written, which sources it cites and which sentences of
each it stands on.

Query-focused compression: a retrieved chunk is about 200 word pieces, of which one or two
sentences answer the question. Each passage goes into the prompt as its best sentences
(rag.evidence scores them against the question), each with the sentence after it, in
document order, best passages first while they fit RAG_FOCUS_TOKENS. The reader's source
keeps the whole passage, with its neighbours in the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatbot.chat.budget import Budget
from chatbot.chat.grounded_prompt import (
    COMPLETION_EXAMPLE,
    INSTRUCTIONS,
    SOURCES_HEADING,
    chat_block,
    chat_context,
    completion_document,
)
from rag import Evidence, Passage, support

# Best sentences a passage keeps in the prompt (each with the sentence after it).
FOCUS_SENTENCES = 2
# A passage's second sentence is kept only when it scores within this of the best sentence
# of all passages: the rest of the room is better spent on the next passage.
FOCUS_MARGIN = 0.15
# Sentences the quote holds, and the length it is cut to (at a word).
QUOTE_SENTENCES = 2
QUOTE_CHARS = 500
# What a source carries for the reader's side panel.
PASSAGE_CHARS = 2000
NEIGHBOUR_CHARS = 600
# "[3]" in an answer; code spans and blocks are no citations.
_CITATION = re.compile(r"\[(\d{1,3})\]")
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)


@dataclass
class Retrieval:
    """What retrieval adds to one answer."""

    # Chat-template models: the passages and instructions, put into the user's message.
    context: str = ""
    # Base models: the "Document [n] …" blocks of the completion prompt.
    documents: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    # Which of the passages retrieved (by index) fitted into the prompt.
    used: list[int] = field(default_factory=list)
    evidence: dict[int, Evidence] = field(default_factory=dict)  # by source number
    # The extractive answer: the best sentence, quoted, with its citation.
    quote: str = ""
    quote_source: int | None = None
    quote_sentences: list[str] = field(default_factory=list)
    # Set when the documents do not seem to cover the question (the `done` payload's).
    not_covered: dict[str, Any] | None = None
    left_out: list[dict[str, Any]] = field(default_factory=list)
    strength: float | None = None  # the best sentence's similarity to the question
    unknown: list[str] = field(default_factory=list)  # uncommon words no document uses
    query: str = ""  # what was searched for (a follow-up carries the previous question)
    passage_tokens: int = 0
    retrieving_s: float = 0.0
    # The whole answer, made without the answer's model call (a document read whole).
    answer: str = ""


def heading_path(passage: Passage) -> str:
    return " › ".join(passage.headings)


def cited_numbers(text: str) -> list[int]:
    """The source numbers `text` cites, in order of first citation, outside code."""
    plain = _CODE.sub(" ", text)
    return list(dict.fromkeys(int(n) for n in _CITATION.findall(plain)))


def fit(evidence: list[Evidence], budget: Budget, *, room: int, completion: bool,
        link: Callable[[Passage], dict[str, Any]],
        neighbours: Callable[[Passage], tuple[str, str]], whole: bool = False) -> Retrieval:
    """Best passages first, each cut to its best sentences (`whole`: as they are, for a
    document given whole), while they fit `room` tokens; passages of the same document page
    share one source number."""
    overall = max((e.best.score for e in evidence if e.best), default=0.0)
    frame = COMPLETION_EXAMPLE if completion else f"{SOURCES_HEADING}\n{INSTRUCTIONS}"
    used = 0 if completion else budget.count(frame) + 8
    numbers: dict[tuple[str, int | None], int] = {}
    retrieval = Retrieval()
    blocks: list[str] = []
    for index, item in enumerate(evidence):
        passage = item.passage
        key = (passage.source, passage.page)
        number = numbers.get(key, len(numbers) + 1)
        text = passage.text if whole else (
            item.focused(FOCUS_SENTENCES, overall - FOCUS_MARGIN) or passage.text)
        heading = heading_path(passage)
        block = (completion_document(number, passage.title, heading, passage.page, text)
                 if completion else
                 chat_block(number, passage.title, heading, passage.page, text))
        cost = budget.count(block) + 2
        if used + cost > room:
            retrieval.left_out.append({k: v for k, v in link(passage).items()
                                       if k in ("title", "url", "page")})
            continue
        used += cost
        blocks.append(block)
        retrieval.used.append(index)
        if key not in numbers:
            numbers[key] = number
            retrieval.evidence[number] = item
            before, after = neighbours(passage)
            retrieval.sources.append({
                "n": number, **link(passage), "cited": False, "heading": heading,
                "passage": passage.text.strip()[:PASSAGE_CHARS],
                "before": before.strip()[-NEIGHBOUR_CHARS:],
                "after": after.strip()[:NEIGHBOUR_CHARS], "highlights": []})
    if not blocks:
        return Retrieval(left_out=retrieval.left_out)
    retrieval.passage_tokens = used
    if completion:
        retrieval.documents = blocks
    else:
        retrieval.context = chat_context(blocks)
    _choose_quote(retrieval)
    return retrieval


def _choose_quote(retrieval: Retrieval) -> None:
    """The first source's QUOTE_SENTENCES best sentences, in their order, quoted with its
    citation. The first source, not the best sentences of all: retrieval ranks whole
    passages with both the words and the meaning, and picks the right page more often than
    one sentence's similarity does; two sentences, because the one most similar to the
    question is often the one before the answer (bench/rag_answers.py, docs/benchmarks.md)."""
    item = retrieval.evidence.get(1)
    if item is None or not item.sentences:
        return
    ranked = sorted(range(len(item.sentences)), key=lambda i: -item.sentences[i].score)
    chosen = sorted(ranked[:QUOTE_SENTENCES])
    parts: list[str] = []
    for position, index in enumerate(chosen):
        if position and index != chosen[position - 1] + 1:
            parts.append("…")
        parts.append(item.text(item.sentences[index]))
    shown = " ".join(parts)
    if len(shown) > QUOTE_CHARS:
        shown = shown[:QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
    retrieval.quote_source = 1
    retrieval.quote_sentences = [item.passage.text[item.sentences[i].start:item.sentences[i].end]
                                 for i in chosen]
    retrieval.quote = f"> {shown} [1]\n\n"


def annotate(retrieval: Retrieval, answer: str) -> list[dict[str, Any]]:
    """The sources with `cited` (the answer cites [n]) and `highlights` (the sentences of the
    passage that the answer's sentences stand on) filled in."""
    cited = set(cited_numbers(answer))
    plain = _CODE.sub(" ", _CITATION.sub(" ", answer))
    out = []
    for source in retrieval.sources:
        number = source.get("n")
        item = retrieval.evidence.get(number) if isinstance(number, int) else None
        is_cited = number in cited
        highlights: list[str] = []
        if is_cited and item is not None:
            highlights = support(plain, item)
            if number == retrieval.quote_source:
                highlights += [q for q in retrieval.quote_sentences if q not in highlights]
        out.append({**source, "cited": is_cited, "highlights": highlights})
    return out


def attribution(retrieval: Retrieval, text: str) -> int | None:
    """The source that model text citing nothing stands on: the one with the most of its
    sentences supported by the text (rag.evidence.support), or None."""
    if cited_numbers(text) or not text.strip():
        return None
    best, most = None, 0
    for number, item in retrieval.evidence.items():
        found = len(support(text, item))
        if found > most:
            best, most = number, found
    return best
