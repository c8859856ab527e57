"""Whole-document questions (whole.py, document_commands.py, intents.py): a document read
piece by piece into a summary that is kept, two documents compared, a collection's catalogue,
asked by command or in words; a request naming nothing of the user's is an ordinary question.

In-process app, canned LLM server (it echoes), real embedded Chroma and the packaged
embedding model."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from harness.fake_llm import FakeLLM
from harness.inprocess import ORIGIN, ChatApp, Tab
from harness.uploads import add_in_process as add
from harness.uploads import ingest_finished, rag_data_dir

LONG = "# Lighthouse log\n\n" + "\n\n".join(
    f"Day {n}: the keeper of Kerrow Point counted {n} ships and trimmed the lamp {n % 3} "
    "times before the storm reached the bay." for n in range(1, 160))
SHORT = b"# Ferry notes\n\nThe Quimby ferry is painted violet and carries 40 cars.\n"


@dataclass
class Shelf:
    app: ChatApp
    llm: FakeLLM
    browser: FlaskClient
    tab: Tab


@pytest.fixture(scope="module")
def shelf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shelf]:
    with FakeLLM() as llm:
        app = ChatApp(rag_data_dir(tmp_path_factory, "whole"), llm.url)
        browser = app.browser()
        tab = app.tab(browser)
        for name, body in (("logbook.md", LONG.encode()), ("ferry.md", SHORT)):
            done = add(browser, tab, "/documents/files", collection="default",
                       files=[(io.BytesIO(body), name)])
            assert done["state"] == "done", done
        yield Shelf(app, llm, browser, tab)
        app.close()


def test_a_summary_is_read_piece_by_piece_and_kept(shelf: Shelf) -> None:
    before = len(shelf.llm.questions())
    start = shelf.tab.send("Summarize the logbook")
    text, ended, done = shelf.tab.answer(start)
    assert ended == "done", done
    asked = shelf.llm.questions()[before:]
    # Three pieces or more, each sent whole once, then the reduce.
    assert len(asked) >= 3 and all("Summarize the text inside <source>" in q for q in asked)
    assert "Day 1:" in asked[0] and "Day 159:" in "".join(asked)
    assert text.startswith("**Lighthouse log**\n\n")
    progress = [s["summarizing"] for s in shelf.tab.since(start, "status")
                if "summarizing" in s]
    assert progress[0]["part"] == 0 and progress[-1]["part"] == progress[-1]["parts"]
    assert done["sources"][0]["title"] == "Lighthouse log"
    # Asked again, by command this time: the kept summary, no model call.
    again, _, _ = shelf.tab.ask("/summarize logbook.md")
    assert again == text and len(shelf.llm.questions()) == before + len(asked)


def test_two_documents_compared(shelf: Shelf) -> None:
    text, ended, done = shelf.tab.ask("compare ferry.md with the logbook")
    assert ended == "done", done
    assert text.startswith("**Ferry notes**\n\n") and "**Lighthouse log**\n\n" in text
    assert [s["title"] for s in done["sources"]] == ["Ferry notes", "Lighthouse log"]


def test_whats_in_my_documents_is_the_catalogue(shelf: Shelf) -> None:
    before = len(shelf.llm.questions())
    text, ended, _ = shelf.tab.ask("What's in my documents?")
    assert ended == "done"
    assert text.startswith("Collection `default` holds 2 documents")
    assert "| Lighthouse log | logbook.md | markdown |" in text
    assert len(shelf.llm.questions()) == before  # no model call


def test_a_request_naming_nothing_of_yours_is_an_ordinary_question(shelf: Shelf) -> None:
    text, ended, _ = shelf.tab.ask("Summarize the French revolution")
    assert ended == "done"
    assert shelf.llm.questions()[-1] == "Summarize the French revolution"


def test_commands_say_what_they_cannot_find(shelf: Shelf) -> None:
    start = shelf.tab.send("/summarize no-such-file.pdf")
    notice = shelf.tab.wait("notice", since=start)[1]
    assert "No document or collection called “no-such-file.pdf”" in notice["text"]
    start = shelf.tab.send("/compare ferry.md")
    assert "Name two documents" in shelf.tab.wait("notice", since=start)[1]["text"]
    start = shelf.tab.send("/documents")
    assert "holds 2 documents" in shelf.tab.wait("notice", since=start)[1]["text"]


def test_a_base_models_summary_is_the_documents_key_sentences(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    with FakeLLM() as llm:
        # RAG_PROMPT=completion: the model is taken for a base model, as the default one is.
        app = ChatApp(rag_data_dir(tmp_path_factory, "whole-base"), llm.url,
                      rag_prompt="completion")
        try:
            browser = app.browser()
            tab = app.tab(browser)
            add(browser, tab, "/documents/files", collection="default",
                files=[(io.BytesIO(LONG.encode()), "logbook.md")])
            text, ended, _ = tab.ask("/summarize logbook.md")
            assert ended == "done"
            lines = text.split("\n\n", 1)[1].splitlines()
            assert 3 <= len(lines) <= 8 and all(line.startswith("- Day ") for line in lines)
            assert all(line[2:] in LONG for line in lines)  # quoted, word for word
            assert llm.questions() == []  # the model wrote none of it
        finally:
            app.close()


def test_a_mention_grounds_the_question_in_that_document(shelf: Shelf) -> None:
    start = shelf.tab.emit("mentions", {"query": "ferr"})
    items = shelf.tab.wait("mentions", since=start)[1]["items"]
    assert {"kind": "document", "name": "ferry.md", "title": "Ferry notes",
            "collection": "default", "insert": "#ferry.md"} in items
    start = shelf.tab.emit("mentions", {"query": "defa"})
    assert shelf.tab.wait("mentions", since=start)[1]["items"][0]["insert"] == "#default"
    # RAG is off in this conversation: the mention alone grounds this one question.
    _, ended, done = shelf.tab.ask("What colour is the ferry? #ferry.md")
    assert ended == "done" and [s["title"] for s in done["sources"]] == ["Ferry notes"]
    assert "violet" in shelf.llm.calls[-1].body["messages"][-1]["content"]
    # A #word that names nothing of the user's is only text.
    _, _, plain = shelf.tab.ask("Is #42 fixed yet?")
    assert plain["sources"] == [] and shelf.llm.questions()[-1] == "Is #42 fixed yet?"
    assert "Malformed" in shelf.tab.refused("mentions", {"query": 3})


def test_mentions_are_read_from_the_text() -> None:
    from chatbot.chat.mentions import mentioned, written

    assert mentioned("see #a.md and #[My notes.pdf], not x#y or ##z, (#b).") == [
        "a.md", "My notes.pdf", "b"]
    assert (written("notes.md"), written("My notes.pdf")) == ("#notes.md", "#[My notes.pdf]")


def test_an_attached_file_goes_whole_into_its_question(shelf: Shelf) -> None:
    tab = shelf.app.tab(shelf.browser)
    conversation = tab.history()["conversation"]["id"]
    picnic = b"# Picnic\n\nThe picnic is on the hill at noon.\n\nBring a red blanket and pears.\n"
    done = add(shelf.browser, tab, "/documents/files", collection=f"chat-{conversation}",
               files=[(io.BytesIO(picnic), "picnic.md")])
    assert done["state"] == "done", done
    start = tab.emit("message", {"text": "When is the picnic?", "attachments": ["picnic.md"]})
    _, ended, done = tab.answer(start)
    assert ended == "done" and [s["title"] for s in done["sources"]] == ["Picnic"]
    # Whole: the sentence that does not answer the question is in the prompt too.
    assert "red blanket and pears" in shelf.llm.calls[-1].body["messages"][-1]["content"]
    [question] = [m for m in shelf.app.reload(tab)
                  if m["role"] == "user" and m["content"] == "When is the picnic?"]
    [shown] = question["attachments"]
    assert (shown["name"], shown["kind"], shown["size"]) == ("picnic.md", "markdown",
                                                              len(picnic))
    assert shown["url"].startswith("/files/")
    # The tab learns the file's kind and link when the question is stored, without a reload.
    [stored] = tab.since(start, "user_stored")
    assert stored["attachments"] == [shown]
    assert "Not attached" in tab.refused("message", {"text": "x", "attachments": ["nope.md"]})
    assert "Malformed" in tab.refused("message", {"text": "x", "attachments": "picnic.md"})
    assert "Malformed" in tab.refused("message", {"text": "x", "attachments": ["a"] * 11})


def test_attachments_belong_to_their_conversation(shelf: Shelf) -> None:
    """Not listed among the user's collections, not open to another conversation's name, and
    deleted with their conversation (the file no longer served)."""
    tab = shelf.app.tab(shelf.browser)
    start = tab.emit("reset", {})
    conversation = tab.wait("history", since=start)[1]["conversation"]["id"]
    add(shelf.browser, tab, "/documents/files", collection=f"chat-{conversation}",
        files=[(io.BytesIO(b"# Kite\n\nThe kite is yellow.\n"), "kite.md")])
    start = tab.emit("collections", {})
    listed = [c["name"] for c in tab.wait("collections", since=start)[1]["collections"]]
    assert "default" in listed and f"chat-{conversation}" not in listed
    start = tab.emit("message", {"text": "What colour is it?", "attachments": ["kite.md"]})
    _, _, done = tab.answer(start)
    link = done["sources"][0]["url"]
    assert shelf.browser.get(link).status_code == 200

    refused = shelf.browser.post("/documents/files", headers={"Origin": ORIGIN}, data={
        "collection": "chat-not-a-conversation-of-yours",
        "files": [(io.BytesIO(b"x"), "x.md")]})
    assert refused.status_code == 400 and "attached files" in refused.get_json()["error"]

    start = tab.emit("delete", {"id": conversation})
    tab.wait("conversations", since=start)
    assert shelf.browser.get(link).status_code == 404
    start = tab.emit("documents", {"collection": f"chat-{conversation}"})
    assert "error" in tab.wait("documents", since=start)[1]


def test_a_conversation_deleted_while_its_file_is_read_leaves_nothing(shelf: Shelf) -> None:
    """Whether the file's job ends before the conversation is deleted or after, its
    collection and its file are gone once both are over."""
    tab = shelf.app.tab(shelf.browser)
    start = tab.emit("reset", {})
    conversation = tab.wait("history", since=start)[1]["conversation"]["id"]
    uploads = shelf.app.app.extensions["chatbot"].library.uploads_dir
    before = set(uploads.glob("*/*"))
    start = tab.mark()
    response = shelf.browser.post("/documents/files", headers={"Origin": ORIGIN}, data={
        "collection": f"chat-{conversation}",
        "files": [(io.BytesIO(b"# Owl\n\nThe owl is brown.\n"), "owl.md")]})
    assert response.status_code == 202
    tab.emit("delete", {"id": conversation})
    ingest_finished(tab, start, response.get_json()["job"])
    start = tab.emit("documents", {"collection": f"chat-{conversation}"})
    assert "error" in tab.wait("documents", since=start, timeout=30,
                               where=lambda d: "error" in d)[1]
    assert set(uploads.glob("*/*")) == before
