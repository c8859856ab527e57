"""How chatbot/chat/intents.py reads a message: a request for a summary, a comparison or an
inventory, with what it names; anything else is an ordinary question. (bench/intents.py
measures it on written sets; these are the rules a change must not break.)"""

from __future__ import annotations

import pytest

from chatbot.chat.intents import Intent, recognise


@pytest.mark.parametrize(("text", "intent"), [
    ("Please summarise thesis.docx in a few bullet points", Intent("summary", ("thesis.docx",))),
    ("What are the key points of the strategy deck?", Intent("summary", ("strategy deck",))),
    ("Brief me on the incident report", Intent("summary", ("incident report",))),
    ("compare the two proposals: alpha.pdf and beta.pdf",
     Intent("compare", ("alpha.pdf", "beta.pdf"))),
    ("Which changed between spec v3 and spec v4?", Intent("compare", ("spec v3", "spec v4"))),
    ("What have I uploaded so far?", Intent("inventory")),
    ("tell me what documents you have", Intent("inventory")),
    ("list the files in team-docs", Intent("inventory", ("team-docs",))),
    ("What's in the legal collection?", Intent("inventory", ("legal",))),
])
def test_a_request_and_what_it_names(text: str, intent: Intent) -> None:
    assert recognise(text) == intent


@pytest.mark.parametrize("text", [
    "What documents do I need for a passport?",
    "What files does a Python package need?",
    "How do I compare two lists in Python?",
    "What is a summary statistic?",
    "list three prime numbers",
    "What does the policy say about overtime?",
    "x" * 301,  # a long message is a question of its own
])
def test_an_ordinary_question_is_left_alone(text: str) -> None:
    assert recognise(text) is None
