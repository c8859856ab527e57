"""What an answer carries besides its text (`sources`, `seen`, `not_covered`, `thought_s`;
see docs/protocol.md), checked when it comes from outside: an imported conversation is a
file anyone can write. Known fields of the right type are kept, strings are cut to a length,
lists to a count; anything else is dropped, never stored and never sent to a page.
"""

from __future__ import annotations

from typing import Any

MAX_SOURCES = 50
MAX_LIST = 20
# Longest string kept for each text field of a source.
SOURCE_TEXT = {"title": 500, "url": 2000, "heading": 500, "passage": 4000, "before": 2000,
               "after": 2000}
SEEN_NUMBERS = ("system", "history", "passages", "question", "answer_room", "prompt_tokens",
                "queued_s", "retrieving_s", "reading_s", "evidence")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _link(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict) or not isinstance(item.get("title"), str):
        return None
    out: dict[str, Any] = {"title": item["title"][:500]}
    if isinstance(item.get("url"), str):
        out["url"] = item["url"][:2000]
    if isinstance(item.get("page"), int) and not isinstance(item["page"], bool):
        out["page"] = item["page"]
    return out


def clean_source(item: Any) -> dict[str, Any] | None:
    """A source with only the fields the page reads, of their types; None if it has no
    title."""
    if not isinstance(item, dict) or not isinstance(item.get("title"), str):
        return None
    out: dict[str, Any] = {k: item[k][:limit] for k, limit in SOURCE_TEXT.items()
                           if isinstance(item.get(k), str)}
    for key in ("n", "page"):
        if isinstance(item.get(key), int) and not isinstance(item[key], bool):
            out[key] = item[key]
    if _number(item.get("score")):
        out["score"] = item["score"]
    if isinstance(item.get("cited"), bool):
        out["cited"] = item["cited"]
    if isinstance(item.get("highlights"), list):
        out["highlights"] = [h[:SOURCE_TEXT["passage"]] for h in item["highlights"][:MAX_LIST]
                             if isinstance(h, str)]
    return out


def clean_sources(items: Any) -> list[dict[str, Any]] | None:
    if not isinstance(items, list):
        return None
    kept = [s for s in (clean_source(i) for i in items[:MAX_SOURCES]) if s is not None]
    return kept or None


def clean_seen(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    out: dict[str, Any] = {k: item[k] for k in SEEN_NUMBERS if _number(item.get(k))}
    if isinstance(item.get("unknown"), list):
        out["unknown"] = [w[:100] for w in item["unknown"][:MAX_LIST] if isinstance(w, str)]
    if isinstance(item.get("left_out"), list):
        out["left_out"] = [x for x in map(_link, item["left_out"][:MAX_LIST]) if x]
    return out or None


def clean_not_covered(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    out: dict[str, Any] = {k: item[k][:2000] for k in ("collection", "query")
                           if isinstance(item.get(k), str)}
    if _number(item.get("evidence")):
        out["evidence"] = item["evidence"]
    if isinstance(item.get("closest"), list):
        out["closest"] = [x for x in map(_link, item["closest"][:MAX_LIST]) if x]
    if isinstance(item.get("unknown"), list):
        out["unknown"] = [w[:100] for w in item["unknown"][:MAX_LIST] if isinstance(w, str)]
    return out if "collection" in out and "query" in out else None


def clean_seconds(item: Any) -> float | None:
    """A duration (a reasoning model's `thought_s`): a number of seconds, not negative."""
    return float(item) if _number(item) and 0 <= item < 1e9 else None


def exported(meta: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of a stored message's meta an export carries: what grounded the answer,
    how long the model thought before it."""
    return {k: meta[k] for k in ("seen", "not_covered", "thought_s")
            if meta and meta.get(k) is not None}
