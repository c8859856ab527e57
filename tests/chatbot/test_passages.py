"""A grounded answer's passages (chatbot.chat.passages): the completion documents, the quote, and
which sources the finished answer cites and stands on."""

from __future__ import annotations

from chatbot.chat.budget import Budget
from chatbot.chat.grounded_prompt import COMPLETION_EXAMPLE, completion_prompt
from chatbot.chat.passages import annotate, cited_numbers, fit
from chatbot.settings import ChatSettings
from rag import Evidence, Passage, Sentence
from rag.evidence import sentence_spans


class WordCountingLLM:
    def n_ctx(self) -> int:
        return 4096

    def count_tokens(self, text: str, model: str | None = None) -> int:
        return len(text.split())


def evidence(text: str, scores: list[float], source: str, title: str) -> Evidence:
    spans = sentence_spans(text)
    return Evidence(Passage(text, source, title, None, 1.0, ("Manual", title)),
                    tuple(Sentence(a, b, s) for (a, b), s in zip(spans, scores, strict=True)))


KETTLE = evidence("The kettle is blue. Descale it with vinegar once a month. It holds two "
                  "litres.", [0.2, 0.8, 0.3], "/docs/kettle.html", "Kettle")
TOASTER = evidence("The toaster has four slots. Crumbs collect in the tray.", [0.3, 0.4],
                   "/docs/toaster.html", "Toaster")


def fitted(completion: bool = True):  # noqa: ANN201
    budget = Budget(WordCountingLLM(), None, ChatSettings(max_tokens=100), "m",  # type: ignore[arg-type]
                    "How do I clean the kettle?")
    return fit([KETTLE, TOASTER], budget, room=500, completion=completion,
               link=lambda p: {"title": p.title, "url": p.source, "score": p.score},
               neighbours=lambda p: ("before " + p.title, "after " + p.title))


def test_completion_documents_carry_the_focused_sentences_and_the_quote_the_best() -> None:
    retrieval = fitted()
    assert retrieval.documents[0] == ("Document [1] Kettle › Manual › Kettle:\n"
                                      "Descale it with vinegar once a month. It holds two "
                                      "litres.\n")
    # The first source's two best sentences, in their order.
    assert retrieval.quote == ("> Descale it with vinegar once a month. It holds two litres. "
                               "[1]\n\n")
    prompt = completion_prompt(retrieval.documents, "How do I clean the kettle?")
    assert prompt.startswith(COMPLETION_EXAMPLE) and prompt.endswith(
        "Question: How do I clean the kettle?\nAnswer:")
    first = retrieval.sources[0]
    assert first["n"] == 1 and first["heading"] == "Manual › Kettle"
    assert first["passage"].startswith("The kettle is blue.")
    assert (first["before"], first["after"]) == ("before Kettle", "after Kettle")


def test_cited_sources_and_their_highlights() -> None:
    retrieval = fitted()
    answer = retrieval.quote + " Use vinegar once a month to descale it [1]. See also [7]."
    sources = annotate(retrieval, answer)
    assert [s["cited"] for s in sources] == [True, False]
    assert sources[0]["highlights"] == ["Descale it with vinegar once a month.",
                                        "It holds two litres."]
    assert sources[1]["highlights"] == []


def test_citations_in_code_are_not_citations() -> None:
    assert cited_numbers("See [2] and [1], again [2]. `a[3]` ```\nx[4]\n```") == [2, 1]
