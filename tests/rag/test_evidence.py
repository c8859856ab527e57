"""Sentences of a passage scored against a question (rag.evidence): splitting, the focused
cut that goes into a prompt, and the sentences an answer stands on."""

from __future__ import annotations

import time

from rag import Evidence, Passage, Sentence, support
from rag.embedding import Embedder
from rag.evidence import sentence_spans, weigh

OPTIONS = ("Options\n"
           "CORRECT (-0) <D>\n"
           "Try to correct the spelling of commands. Note that, when the HASH_LIST_ALL option "
           "is not set or when some directories in the path are not readable, this may "
           "falsely report spelling errors the first time some commands are used.\n"
           "SHARE_HISTORY <K>\n"
           "This option both imports new commands from the history file, and also causes "
           "your typed commands to be appended to the history file.")


def texts(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def test_sentences_end_at_stops_and_lines_and_a_term_joins_its_description() -> None:
    assert texts("One. Two!  Three?\nFour") == ["One.", "Two!", "Three?", "Four"]
    found = texts(OPTIONS)
    assert found[0] == "Options\nCORRECT (-0) <D>\nTry to correct the spelling of commands."
    assert found[-1].startswith("SHARE_HISTORY <K>\nThis option both imports")
    assert texts("") == [] and texts("  \n \n") == []
    assert texts("a heading without an end") == ["a heading without an end"]


def test_splitting_is_linear_on_hostile_text() -> None:
    for hostile in ("a" * 200_000, ". " * 100_000, "\n" * 200_000, "x.\t" * 70_000):
        started = time.perf_counter()
        sentence_spans(hostile)
        # Generous: quadratic behaviour would take minutes on these sizes.
        assert time.perf_counter() - started < 5


def scored(text: str, scores: list[float]) -> Evidence:
    spans = sentence_spans(text)
    assert len(spans) == len(scores)
    return Evidence(Passage(text, "/d.md", "D", None, 1.0),
                    tuple(Sentence(a, b, s) for (a, b), s in zip(spans, scores, strict=True)))


def test_focused_keeps_the_best_sentences_with_the_next_one_in_order() -> None:
    item = scored("A one. B two. C three. D four. E five.", [0.1, 0.9, 0.2, 0.1, 0.7])
    assert item.focused(2, 0.5) == "B two. C three. … E five."
    assert item.focused(2, 0.8) == "B two. C three."  # the second best is under the bar
    assert item.focused(1, 0.0) == "B two. C three."
    assert item.best == item.sentences[1]


def test_support_finds_the_sentence_an_answer_restates() -> None:
    item = scored(OPTIONS, [0.6, 0.2, 0.1])
    answer = "Set the CORRECT option: the shell tries to correct the spelling of commands [1]."
    assert support(answer, item) == [OPTIONS[:OPTIONS.index("commands.") + len("commands.")]]
    assert support("Nothing in common here at all.", item) == []


def test_weigh_ranks_the_answering_sentence_first(embedder: Embedder) -> None:
    passages = [Passage(OPTIONS, "/zsh/Options.html", "Options", None, 0.03),
                Passage("The prompt shows the current directory. Colours are set with "
                        "escape sequences.", "/zsh/Prompt.html", "Prompt", None, 0.02)]
    weighed = weigh(embedder, "How do I make the shell fix my typos in command names?",
                    passages)
    assert [len(e.sentences) for e in weighed] == [len(sentence_spans(p.text)) for p in passages]
    best = max(weighed, key=lambda e: e.best.score if e.best else -1)
    assert best.best is not None and "correct the spelling" in best.text(best.best)
    assert weigh(embedder, "q", []) == []
