"""Which sentences of the retrieved passages answer a question, and which support an answer.

Retrieval ranks whole chunks (about 200 word pieces each); a person checking an answer, and a
270M model reading a prompt, both need the one or two sentences that matter. Each passage is
split into sentences, every sentence is embedded with the same model that ranked the chunks
(the question's own vector is computed once more, a few milliseconds), and scored by its
cosine similarity to the question. From those scores the chat app takes:

- the evidence strength (the best sentence's score): below a threshold calibrated on
  bench/rag_answers.py the documents are said not to cover the question;
- a query-focused compression of each passage: its best sentences with a neighbour each, in
  document order, within a share of the prompt;
- the extractive answer: the best sentence, quoted with its citation.

`support` matches an answer's sentences against a passage's by word overlap (no model call),
to highlight the sentences an answer stands on.

Splitting is linear in the text (no backtracking pattern on document text). A short line that
ends without punctuation (a term of a definition list, an option's name, a heading) is joined
to the sentence after it, which is what it names: "CORRECT — Try to correct the spelling of
commands."
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.documents import Passage
from rag.embedding import Embedder

# A sentence ends at ., ! or ? followed by white space, at a blank line, or where a line
# starts a list item or a heading; other line breaks only wrap a sentence.
_BOUNDARY = re.compile(
    r"(?<=[.!?])\s+|\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*+>|]|#{1,6}|\d{1,3}[.)])[ \t])")
# A list item's or heading's marker at a line's start, left out of a sentence's text.
_MARKER = re.compile(r"^[ \t]*(?:[-*+>]|#{1,6}|\d{1,3}[.)])[ \t]+", re.MULTILINE)
# A line this short without final punctuation names what follows it.
TERM_WORDS = 6
# Sentences longer than this many characters are scored on their start (the embedding
# model reads 256 word pieces at most; most of a long sentence's meaning is early).
SCORED_CHARS = 400
_WORD = re.compile(r"[a-z0-9_]+(?:[-.'][a-z0-9_]+)*")
# Words too common to say that an answer and a sentence share content.
_COMMON = frozenset((
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "at", "from",
    "as", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these",
    "those", "you", "your", "i", "we", "they", "he", "she", "can", "will", "would", "should",
    "could", "may", "might", "must", "do", "does", "did", "not", "no", "yes", "if", "then",
    "than", "so", "but", "also", "which", "what", "when", "where", "how", "who", "why", "all",
    "any", "each", "one", "use", "used", "using"
))


@dataclass(frozen=True)
class Sentence:
    start: int  # character offsets in the passage's text
    end: int
    score: float  # cosine similarity to the question


@dataclass(frozen=True)
class Evidence:
    """A passage and its sentences, each scored against the question."""

    passage: Passage
    sentences: tuple[Sentence, ...]  # in passage order

    def text(self, sentence: Sentence) -> str:
        """The sentence on one line, without list or heading markers."""
        return " ".join(_MARKER.sub("", self.passage.text[sentence.start:sentence.end]).split())

    @property
    def best(self) -> Sentence | None:
        return max(self.sentences, key=lambda s: s.score, default=None)

    def focused(self, keep: int, threshold: float) -> str:
        """The passage cut to its `keep` best sentences scoring at least `threshold` (the
        best one always), each with the sentence after it, in document order; gaps shown
        as " … "."""
        ranked = sorted(range(len(self.sentences)), key=lambda i: -self.sentences[i].score)
        chosen: set[int] = set()
        for rank, index in enumerate(ranked[:keep]):
            if rank and self.sentences[index].score < threshold:
                break
            chosen.update((index, index + 1))
        kept = sorted(i for i in chosen if i < len(self.sentences))
        parts: list[str] = []
        previous = -1
        for index in kept:
            if parts and index != previous + 1:
                parts.append("…")
            parts.append(self.text(self.sentences[index]))
            previous = index
        return " ".join(parts)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, white space trimmed, a short unpunctuated
    line joined to the sentence after it."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    trimmed: list[tuple[int, int]] = []
    for begin, end in spans:
        piece = text[begin:end]
        stripped = piece.strip()
        if not stripped:
            continue
        begin += len(piece) - len(piece.lstrip())
        trimmed.append((begin, begin + len(stripped)))
    joined: list[tuple[int, int]] = []
    pending: int | None = None
    for begin, end in trimmed:
        piece = text[begin:end]
        if pending is None:
            pending = begin
        if len(piece.split()) <= TERM_WORDS and piece[-1] not in ".!?:;,":
            continue  # a term or heading: it belongs with what follows
        joined.append((pending, end))
        pending = None
    if pending is not None:
        joined.append((pending, trimmed[-1][1]))
    return joined


def weigh(embedder: Embedder, question: str, passages: list[Passage]) -> list[Evidence]:
    """Every passage's sentences scored against `question`, in one batch of the model."""
    spans = [sentence_spans(p.text) for p in passages]
    texts = [" ".join(p.text[a:b][:SCORED_CHARS].split())
             for p, found in zip(passages, spans, strict=True) for a, b in found]
    if not texts:
        return [Evidence(p, ()) for p in passages]
    vectors = embedder.embed([question, *texts])
    scores = (vectors[1:] @ vectors[0]).astype(float)
    out: list[Evidence] = []
    offset = 0
    for passage, found in zip(passages, spans, strict=True):
        sentences = tuple(Sentence(a, b, float(np.round(s, 4)))
                          for (a, b), s in zip(found, scores[offset:offset + len(found)],
                                               strict=True))
        offset += len(found)
        out.append(Evidence(passage, sentences))
    return out


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _COMMON and len(w) > 1}


def support(answer: str, evidence: Evidence, least: float = 0.5) -> list[str]:
    """The sentences of the passage that an answer's sentence stands on: for each sentence
    of the answer, the passage sentence sharing the most content words with it, kept when
    they cover at least `least` of the shorter one's words. Exact substrings of the
    passage's text, in passage order."""
    text = evidence.passage.text
    candidates = [(s, content_words(text[s.start:s.end])) for s in evidence.sentences]
    found: set[Sentence] = set()
    for a, b in sentence_spans(answer):
        words = content_words(answer[a:b])
        if not words:
            continue
        best, overlap = None, 0.0
        for sentence, theirs in candidates:
            if not theirs:
                continue
            shared = len(words & theirs) / min(len(words), len(theirs))
            if shared > overlap:
                best, overlap = sentence, shared
        if best is not None and overlap >= least:
            found.add(best)
    return [text[s.start:s.end] for s in sorted(found, key=lambda s: s.start)]


def _prose(text: str) -> bool:
    """A sentence worth quoting in a summary: not a table row, code or a list of names."""
    letters = sum(c.isalpha() or c == " " for c in text)
    return (5 <= len(text.split()) <= 80 and text.count("|") < 2 and "```" not in text
            and letters >= 0.8 * len(text))


def key_sentences(embedder: Embedder, passages: list[Passage], count: int,
                  most: int = 600) -> list[tuple[Passage, str]]:
    """The `count` sentences that best stand for `passages` as a whole, in their order: an
    extractive summary. Each sentence is scored by its similarity to the mean of all of them
    (what the text is mostly about), less its similarity to those already chosen, so that
    they do not repeat one another (maximal marginal relevance). Sentences repeated by
    overlapping passages count once; of a long document, `most` sentences spread over it are
    scored."""
    found: list[tuple[int, str]] = []
    seen: set[str] = set()
    for index, passage in enumerate(passages):
        for a, b in sentence_spans(passage.text):
            text = " ".join(passage.text[a:b].split())
            if _prose(text) and text not in seen:
                seen.add(text)
                found.append((index, text))
    if len(found) > most:
        found = [found[i * len(found) // most] for i in range(most)]
    if not found:
        return []
    vectors = embedder.embed([text[:SCORED_CHARS] for _, text in found])
    centre = vectors.mean(axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    central = vectors @ centre
    chosen: list[int] = []
    nearest = np.full(len(found), -1.0)
    while len(chosen) < min(count, len(found)):
        score = 0.7 * central - 0.3 * np.maximum(nearest, 0.0)
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        nearest = np.maximum(nearest, vectors @ vectors[best])
    return [(passages[found[i][0]], found[i][1]) for i in sorted(chosen)]
