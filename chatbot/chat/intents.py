"""Whole-document questions asked in words rather than by command: "summarize the lease",
"compare the 2023 and 2024 reports", "what's in my documents?".

Recognised by patterns, not by the model (on 2 cores a classifying call would double the
wait, and a 270M model is no judge of intent): a message is a request for a summary when it
opens with a verb of summing up ("summarize", "sum up", "brief me on", "give me a summary of",
"tl;dr", "what are the key points of", "what is ... about"), for a comparison when it opens
with "compare" or "what changed between" and names two things joined by "and", "with", "to",
"from" or "vs", and for an inventory when it asks what the documents, files or collection
hold, which ones the user has, uploaded or can search, or lists them ("what documents do I
need for a passport?" is none of these). The words that follow are only a *target*: the
message becomes a whole-document question only when the target names a document or
collection the user may read (commands.py resolves it); otherwise it is answered as any other
message, so "summarize the French revolution" still reaches the model. bench/intents.py
measures the patterns on two written sets of phrasings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["summary", "compare", "inventory"]


@dataclass(frozen=True)
class Intent:
    kind: Kind
    targets: tuple[str, ...] = ()  # what the message names (one, or two to compare)


# Words a request may open with, taken off before the patterns look (in Python, not in the
# patterns: every pattern here runs in linear time on any text, tests/test_regexes.py).
_POLITE = ("please", "pls", "can you", "could you", "would you", "kindly", "now")
_SUMMARY = re.compile(
    r"^(?:summari[sz]e|sum up|recap|brief me on|tl;?dr|(?:give|write|make|send)(?: me)?"
    r"(?: a| an)?(?: short| brief| quick)? (?:summary|overview|synopsis|recap|gist|tl;?dr)"
    r"|i(?: would|'d)? (?:need|want|like) (?:a|an)(?: short| brief| quick)? "
    r"(?:summary|overview|synopsis|recap)"
    r"|(?:what(?:'s| is| are)|give me|list) the (?:gist|main (?:points?|ideas?)|key (?:points"
    r"|ideas|takeaways)|takeaways|highlights)"
    r"|(?:a |an )?(?:short |brief )?(?:summary|overview|synopsis)"
    r"|what(?:'s| is| are) (?P<about>.+) about)(?: (?:of|for|in))?(?: (?P<target>.*))?$",
    re.IGNORECASE)
_COMPARE = re.compile(
    r"^(?:compare|contrast|what(?:'s| is| are) the differences? between|(?:what|which)"
    r"(?: has| have)? changed between|how do(?:es)?) (?P<rest>.+)$", re.IGNORECASE)
# The word joining the two things compared: the first one found splits them.
_JOINED = re.compile(r" (?:and|with|to|from|vs\.?|versus|against) ", re.IGNORECASE)
# How the answer should look, after what to sum up: "in three bullet points", "briefly"
# ("for me" is one of _clean's trailing words).
_SHAPE = re.compile(
    r" (?:in (?:a few|one|two|three|four|five|\d+|a|an|short)(?: short)? (?:bullet points|"
    r"bullets|points|sentences?|paragraphs?|lines?|words)|in bullets|briefly)$",
    re.IGNORECASE)
_HOLDINGS = r"(?:documents?|docs|files?|collections?|library|knowledge base|uploads?|sources)"
# What asks about the user's own holdings, after "what documents" or "which files": having,
# uploading, what is there, what can be searched.
_HELD = (r"(?:(?:(?:do|did|have|can) )?(?:i|you|we) (?:have|got|upload(?:ed)?|add(?:ed)?|"
         r"stored?|see|search|read|access|know)|(?:are|is) (?:there|in|available|uploaded|"
         r"stored|indexed|loaded)|exist)")
_INVENTORY = re.compile(
    # "What's in X?" first: X, when it is a collection of the user's, is the one to list.
    rf"^(?:tell me )?(?:what(?:'s| is) in(?:side)? (?P<target>.+)"
    rf"|(?:what|which) (?:are|is|'s) (?:all )?(?:the |my |your |our )?(?:uploaded )?"
    rf"{_HOLDINGS}(?: (?:i|you|we) have| there| available| uploaded)?"
    rf"|(?:what|which)(?: of (?:my|the|your))? {_HOLDINGS} {_HELD}\b.*"
    rf"|(?:what|which) {_HOLDINGS}"
    rf"|what (?:have i|did i|do i have) (?:uploaded|upload|added|add|stored)\b.*"
    rf"|what can you (?:search|see|read|access)\b.*"
    rf"|(?:list|show|show me|tell me)(?: all)?(?: of)?(?: the| my| your| this)? {_HOLDINGS}"
    rf"(?: (?:in|of) (?P<within>.+))?|inventory\b.*)$",
    re.IGNORECASE)


def recognise(text: str) -> Intent | None:
    """What whole-document question `text` asks, if it reads like one."""
    text = " ".join(text.split())
    if len(text) > 300:  # a long message is a question of its own, not a request
        return None
    text = _without_courtesy(text).rstrip("?.! ")
    if match := _COMPARE.match(text):
        rest = _without_suffix(match["rest"], " differ")
        rest = rest.split(": ", 1)[-1]  # "the two offers: a.pdf and b.pdf"
        parts = _JOINED.split(rest, maxsplit=1)
        if len(parts) == 2 and all(p.strip() for p in parts):
            first = _without_suffix(parts[0], " differ")
            return Intent("compare", (_clean(first), _clean(parts[1])))
    if match := _INVENTORY.match(text):
        target = _clean(match["target"] or match["within"] or "")
        return Intent("inventory", (target,) if target else ())
    if match := _SUMMARY.match(text):
        target = _clean(_SHAPE.sub("", match["about"] or match["target"] or ""))
        return Intent("summary", (target,) if target else ())
    return None


def _without_courtesy(text: str) -> str:
    lowered = text.lower()
    found = True
    while found:
        found = False
        for word in _POLITE:
            if lowered.startswith(word) and lowered[len(word):len(word) + 1] in ("", ",", " "):
                text = text[len(word):].lstrip(", ")
                lowered = text.lower()
                found = True
    return text


def _without_suffix(text: str, suffix: str) -> str:
    return text[: -len(suffix)] if text.lower().endswith(suffix) else text


_LEADING = frozenset(("the", "my", "our", "this", "that", "these", "those", "your", "a", "an"))
_TRAILING = frozenset(("document", "doc", "file", "pdf", "page", "collection", "please"))


def _clean(target: str) -> str:
    """The name in `target`, without quotes, articles and words such as "document"."""
    target = target.strip().strip("\"'“”‘’`«»").strip()
    if target.startswith("#"):  # a #mention of a document: its name
        target = target[1:].strip("[]")
    words = target.split(" ")
    while len(words) > 1 and words[0].lower() in _LEADING:
        words.pop(0)
    while len(words) > 1 and (words[-1].lower() in _TRAILING
                              or " ".join(words[-2:]).lower() == "for me"):
        words = words[:-2] if words[-1].lower() == "me" else words[:-1]
    return " ".join(words).strip("\"'“”‘’`«»").strip()


def normalised(name: str) -> str:
    """A document or collection name as a target is compared with it."""
    stem = re.sub(r"\.[a-z0-9]{1,5}$", "", name.strip().lower())
    return " ".join(re.findall(r"[a-z0-9]+", stem))
