"""A grounded answer as the page shows it, for browser tests that put one in place through
the product's own import rather than ask a model: its sources (cited and not), what the model
saw, the note for a question the documents do not cover."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page, expect

KETTLE = "The Brewmaster kettle boils one litre in ninety seconds."
SOURCES = [
    {"n": 1, "title": "Kettle manual", "url": "https://example.org/kettle", "score": 0.71,
     "cited": True, "heading": "Kettle manual › Boiling",
     "passage": f"Fill to the line. {KETTLE} Never boil it dry.",
     "before": "Chapter 2: filling.", "after": "Chapter 4: descaling.",
     "highlights": [KETTLE]},
    {"n": 2, "title": "Lid notes", "url": "https://example.org/lid", "score": 0.52,
     "cited": True, "heading": "", "passage": "The lid locks with a click.", "before": "",
     "after": "", "highlights": ["The lid locks with a click."]},
    {"n": 3, "title": "Toaster manual", "url": "https://example.org/toaster", "score": 0.31,
     "cited": False, "heading": "Toaster", "passage": "The toaster has four slots.",
     "before": "", "after": "", "highlights": []},
]
SEEN = {"system": 41, "history": 0, "passages": 212, "question": 9, "answer_room": 1500,
        "prompt_tokens": 262, "left_out": [{"title": "Descaling guide",
                                            "url": "https://example.org/descale"}],
        "queued_s": 0.4, "retrieving_s": 0.3, "reading_s": 1.5}
NOT_COVERED = {"collection": "kitchen", "query": "price of a toaster",
               "closest": [{"title": "Toaster manual", "url": "https://example.org/toaster"}]}
UNCOVERED = "Your documents do not seem to cover this."


def import_conversation(page: Page, title: str, messages: list[dict[str, Any]]) -> None:
    """Import as a user does (Import in the sidebar); the page then shows it."""
    body = json.dumps({"title": title, "messages": messages}).encode()
    page.set_input_files("#import-file", files=[{
        "name": "conversation.json", "mimeType": "application/json", "buffer": body}])
    expect(page.locator("#sidebar-status")).to_have_text(f"Imported “{title}”.")
    expect(page.locator("#title")).to_have_text(title)
    expect(page.locator("#messages .msg.assistant[data-state=done]")).to_have_count(
        sum(m["role"] == "assistant" for m in messages))
