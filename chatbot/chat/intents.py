"""Whole-document questions asked in words rather than by command: "summarize the lease",
"compare the 2023 and 2024 reports", "what's in my documents?".

Recognised by patterns, not by the model (on 2 cores a classifying call would double the
wait, and a 270M model is no judge of intent): a message is a request for a summary when it
opens with a verb of summing up ("summarize", "sum up", "give me a summary of", "tl;dr", "what
is ... about"), for a comparison when it opens with "compare" and names two things joined by
"and", "with", "to", "from" or "vs", and for an inventory when it asks what the documents, files or
collection hold or lists them. The words that follow are only a *target*: the message becomes
a whole-document question only when the target names a document or collection the user may
read (commands.py resolves it); otherwise it is answered as any other message, so "summarize
the French revolution" still reaches the model. bench/intents.py measures the patterns on a
written set of phrasings.
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


_POLITE = r"(?:(?:please|pls|can you|could you|would you|kindly|now)[, ]+)*"
_SUMMARY = re.compile(
    rf"^{_POLITE}(?:summari[sz]e|sum up|recap|tl;?dr(?: of)?|(?:give|write|make)(?: me)?"
    r"(?: a| an)?(?: short| brief| quick)? (?:summary|overview|synopsis|recap|gist|tl;?dr)"
    r"(?: of| for)?|what(?:'s| is) the gist of|(?:a |an )?(?:short |brief )?"
    r"(?:summary|overview|synopsis) of|what(?:'s| is| are) (?P<about>.+?) about)"
    r"(?: of)?\s*(?P<target>.*?)\s*[?.!]*$", re.IGNORECASE)
_COMPARE = re.compile(
    rf"^{_POLITE}(?:compare|contrast|what(?:'s| is| are) the differences? between|how do(?:es)?)"
    r"\s+(?P<a>.+?)(?:\s+differ)?\s+(?:and|with|to|from|vs\.?|versus|against)\s+(?P<b>.+?)"
    r"(?:\s+differ)?\s*[?.!]*$", re.IGNORECASE)
_HOLDINGS = r"(?:documents?|docs|files?|collections?|library|knowledge base|uploads?|sources)"
_INVENTORY = re.compile(
    # "What's in X?" first: X, when it is a collection of the user's, is the one to list.
    rf"^{_POLITE}(?:tell me )?(?:what(?:'s| is) in(?:side)? (?P<target>.+?)|(?:what|which) "
    r"(?:is|are|'s|do i have|have i got|did i upload|is there)"
    rf"\b.*\b{_HOLDINGS}\b|(?:what|which) {_HOLDINGS}\b.*|(?:list|show|show me|tell me)"
    rf"(?: all)?(?: of)?(?: the| my| your| this)? {_HOLDINGS}\b.*|inventory(?: of)?\b.*)"
    r"\s*[?.!]*$", re.IGNORECASE)


def recognise(text: str) -> Intent | None:
    """What whole-document question `text` asks, if it reads like one."""
    text = " ".join(text.split())
    if len(text) > 300:  # a long message is a question of its own, not a request
        return None
    if match := _COMPARE.match(text):
        return Intent("compare", (_clean(match["a"]), _clean(match["b"])))
    if match := _INVENTORY.match(text):
        target = _clean(match["target"] or "")
        return Intent("inventory", (target,) if target else ())
    if match := _SUMMARY.match(text):
        target = _clean(match["about"] or match["target"] or "")
        return Intent("summary", (target,) if target else ())
    return None


_LEADING = re.compile(r"^(?:the|my|our|this|that|these|those|your|a|an)\s+", re.IGNORECASE)
_TRAILING = re.compile(r"\s+(?:document|doc|file|pdf|page|collection|for me|please)$",
                       re.IGNORECASE)


def _clean(target: str) -> str:
    """The name in `target`, without quotes, articles and words such as "document"."""
    target = target.strip().strip("\"'“”‘’`«»").strip()
    if target.startswith("#"):  # a #mention of a document: its name
        target = target[1:].strip("[]")
    for _ in range(3):
        target = _TRAILING.sub("", _LEADING.sub("", target)).strip()
    return target.strip("\"'“”‘’`«»").strip()


def normalised(name: str) -> str:
    """A document or collection name as a target is compared with it."""
    stem = re.sub(r"\.[a-z0-9]{1,5}$", "", name.strip().lower())
    return " ".join(re.findall(r"[a-z0-9]+", stem))
