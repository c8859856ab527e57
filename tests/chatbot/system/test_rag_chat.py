"""RAG in the chat, end to end: a real llmserver, real embedded Chroma (and an unreachable
Chroma server), documents added through the upload endpoint, questions over Socket.IO.

The model is a tiny base model: these tests assert on what retrieval did (`done.sources`,
notices, what history keeps), never on the wording of an answer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.documents import make_pdf
from harness.processes import chatbot, free_port, llmserver
from harness.socketclient import ChatClient
from harness.uploads import finished, rag_data_dir, upload

CORPUS = [
    ("lighthouse.md", b"# Zorblax lighthouse\n\nThe Zorblax lighthouse on Quimby island is "
     b"painted bright violet and stands 43 metres tall. Its lamp was first lit in 1891."),
    ("bakery.md", b"# Marmot bakery\n\nThe Marmot bakery sells rye bread and cinnamon buns. "
     b"It opens at six in the morning, every day except Sunday."),
    ("trains.txt", b"Night trains between Pellow and Danforth leave at 22:10 and arrive at "
     b"06:45. Sleeping cars have four berths each."),
]
MANUAL = make_pdf(["Chapter one covers unpacking the Frobnicator and its warranty card.",
                   "To reset the Frobnicator hold the blue button for twelve seconds."],
                  title="Frobnicator manual")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(chatbot URL with a corpus in collection `corpus`, chatbot URL whose Chroma is down)."""
    closed = f"http://127.0.0.1:{free_port()}"
    with llmserver() as llm_url, \
            chatbot(llm_url, rag_data_dir(tmp_path_factory, "rag-chat"),
                    CHAT_MAX_TOKENS="24") as url, \
            chatbot(llm_url, rag_data_dir(tmp_path_factory, "rag-down"), CHAT_MAX_TOKENS="16",
                    CHROMA_URL=closed, RAG_TIMEOUT="5") as down_url:
        with ChatClient(url) as client:
            summary = finished(client, upload(client, CORPUS + [("manual.pdf", MANUAL)],
                                              "corpus"))
        assert summary["state"] == "done" and not summary["summary"]["failed"], summary
        yield url, down_url


def command(client: ChatClient, text: str) -> str:
    start = client.send(text)
    return client.wait("notice", since=start)[2]["text"]


def test_rag_on_answers_from_the_document_that_holds_the_answer(servers: tuple[str, str]) -> None:
    with ChatClient(servers[0]) as client:
        assert "RAG is on" in command(client, "/rag on corpus 3")
        start = client.mark()
        _, (_, event, done) = client.ask("What colour is the Zorblax lighthouse on Quimby island?")
        assert event == "done", done
        assert client.since(start, "status")[0] == {"state": "retrieving", "collection": "corpus"}
        assert done["sources"][0]["title"] == "Zorblax lighthouse"
        assert done["sources"][0]["url"].startswith("/files/")
        assert len(done["sources"]) <= 3
        # A follow-up is searched with the question before it in mind.
        _, (_, _, follow) = client.ask("And how tall is it?")
        assert follow["sources"][0]["title"] == "Zorblax lighthouse"

    with ChatClient(servers[0], cookie=client.cookie) as again:
        history = again.wait("history")[2]
    users = [m for m in history["messages"] if m["role"] == "user"]
    answers = [m for m in history["messages"] if m["role"] == "assistant"]
    assert users[0]["content"] == "What colour is the Zorblax lighthouse on Quimby island?"
    assert answers[0]["sources"][0]["title"] == "Zorblax lighthouse"
    assert history["settings"]["rag"] is True


def test_a_grounded_answer_quotes_cites_and_says_what_the_model_saw(
        servers: tuple[str, str]) -> None:
    with ChatClient(servers[0]) as client:
        command(client, "/rag on corpus 3")
        start = client.mark()
        text, (_, event, done) = client.ask("When do the night trains from Pellow leave?")
    assert event == "done", done
    # The base model's answer opens with the first source's best sentences, quoted and cited,
    # sent as one piece before the model's own text.
    first_piece = client.since(start, "token")[0]["text"]
    assert first_piece.startswith("> ") and first_piece.rstrip().endswith("[1]")
    assert "22:10" in first_piece and text.startswith(first_piece)
    source = done["sources"][0]
    assert source["n"] == 1 and source["cited"] is True and source["title"] == "trains.txt"
    assert "22:10" in source["passage"]
    assert source["highlights"] and all(h in source["passage"] for h in source["highlights"])
    seen = done["seen"]
    assert seen["passages"] > 0 and seen["question"] > 0 and seen["answer_room"] > 0
    assert seen["system"] > 0 and seen["history"] == 0  # the worked example; no history
    assert seen["retrieving_s"] >= 0 and seen["evidence"] >= 0.45
    assert "not_covered" not in done


def test_a_question_the_documents_do_not_cover_is_told_so(servers: tuple[str, str]) -> None:
    with ChatClient(servers[0]) as client:
        command(client, "/rag on corpus")
        text, (_, event, done) = client.ask("How do I change the tmux prefix key?")
        assert event == "done", done
        assert text.startswith("Your documents do not seem to cover this")
        assert "“tmux”" in text and done["sources"] == []
        assert done["not_covered"]["unknown"] == ["tmux"]
        assert done["not_covered"]["collection"] == "corpus"
        # Stored as such: a reload shows the same.
        with ChatClient(servers[0], cookie=client.cookie) as again:
            answer = again.wait("history")[2]["messages"][-1]
    assert answer["content"] == text and answer["not_covered"]["unknown"] == ["tmux"]


def test_a_pdf_source_links_to_its_page(servers: tuple[str, str]) -> None:
    with ChatClient(servers[0]) as client:
        command(client, "/rag on corpus")
        _, (_, event, done) = client.ask("How do I reset the Frobnicator with the blue button?")
    assert event == "done", done
    first = done["sources"][0]
    assert first["title"] == "Frobnicator manual" and first["page"] == 2
    assert first["url"].startswith("/files/") and first["url"].endswith("#page=2")
    served = httpx.get(servers[0] + first["url"].split("#")[0], timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "application/pdf"
    assert served.content == MANUAL


def test_rag_off_gives_no_sources(servers: tuple[str, str]) -> None:
    with ChatClient(servers[0]) as client:
        command(client, "/rag on corpus")
        assert "off" in command(client, "/rag off")
        start = client.mark()
        _, (_, event, done) = client.ask("What colour is the Zorblax lighthouse?")
    assert event == "done" and done["sources"] == []
    assert all(s["state"] != "retrieving" for s in client.since(start, "status"))


def test_one_off_rag_question_and_listing(servers: tuple[str, str]) -> None:
    with ChatClient(servers[0]) as client:
        listing = command(client, "/rag list")
        assert "`corpus`" in listing and "| 4 |" in listing
        # Off again, but the conversation remembers its collection for one-off questions.
        command(client, "/rag on corpus")
        command(client, "/rag off")
        start = client.send("/rag When do the night trains from Pellow leave?")
        _, event, done = client.wait("done", "error", since=start)
        assert event == "done", done
        assert done["sources"][0]["title"] == "trains.txt"
        assert client.since(start, "user_message") == [
            {"text": "When do the night trains from Pellow leave?"}]
        # Regenerated, the answer is grounded the same way, though RAG is off.
        start = client.emit("regenerate", {})
        _, event, again = client.wait("done", "error", since=start)
        assert event == "done", again
        assert again["sources"][0]["title"] == "trains.txt"
        # The conversation itself still answers without documents.
        _, (_, _, plain) = client.ask("Hello there, how are you today?")
        assert plain["sources"] == []
        assert "No collection `nope`" in command(client, "/rag on nope")


def test_a_bare_url_asks_before_fetching(servers: tuple[str, str]) -> None:
    with ChatClient(servers[0]) as client:
        start = client.send("http://169.254.169.254/latest/meta-data/")
        notice = client.wait("notice", since=start)[2]
        assert "summarize" in notice["text"]
        assert notice["actions"] == [{"label": "Summarize it",
                                      "text": "/summarize http://169.254.169.254/latest/meta-data/"}]
        assert client.since(start, "done") == []
        # Accepting it fetches under the address rules: the metadata address is refused.
        start = client.send(notice["actions"][0]["text"])
        _, event, done = client.wait("done", "error", since=start)
        warnings = [n["text"] for n in client.since(start, "notice") if n["level"] == "warning"]
    assert event == "done" and done["sources"] == []
    assert any("non-public" in w for w in warnings), warnings


def test_unreachable_chroma_answers_without_documents_and_says_why(
        servers: tuple[str, str]) -> None:
    with ChatClient(servers[1]) as client:
        reply = command(client, "/rag on corpus")
        assert "RAG is on" in reply and "Could not check" in reply
        start = client.mark()
        _, (_, event, done) = client.ask("What colour is the Zorblax lighthouse?")
    assert event == "done", done
    assert done["sources"] == []
    warnings = [n["text"] for n in client.since(start, "notice") if n["level"] == "warning"]
    assert len(warnings) == 1 and "Could not search collection `corpus`" in warnings[0]
    assert "does not use your documents" in warnings[0]
