"""Regenerate, edit and resend, search and import, in-process against the fake LLM server:
what is stored, what every tab is told, and that one owner never reaches another's."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from chatbot.chat.chat import BUSY
from chatbot.db.migrations import MIGRATIONS, migrate
from chatbot.db.store import Store
from harness.documents import html_page, serve
from harness.fake_llm import FakeLLM, Reply
from harness.inprocess import ORIGIN, ChatApp, Tab

PASSWORD = "correct horse battery"


def contents(messages: list[dict]) -> list[str]:
    return [m["content"] for m in messages]


def test_regenerate_adds_a_version_of_the_last_answer_shown_in_every_tab(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab = chat.tab()
    other = chat.tab(tab.browser)
    tab.ask("First question")
    old, _, _ = tab.ask("Second question")
    fake_llm.reply("Second question", Reply(["A", " fresh", " answer"]))

    seen = other.mark()
    start = tab.emit("regenerate", {})
    answer, ending, done = tab.answer(start)
    assert (answer, ending) == ("A fresh answer", "done")
    # Every tab is shown the conversation without the replaced turn, then the new one.
    for t, since in ((tab, start), (other, seen)):
        shown = t.wait("history", since=since)[1]["messages"]
        assert contents(shown) == ["First question", "You said: First question"]
        assert t.wait("user_message", since=since)[1] == {"text": "Second question"}
    stored = tab.wait("user_stored", since=start)[1]["id"]

    history = chat.reload(tab)
    assert contents(history) == ["First question", "You said: First question",
                                 "Second question", "A fresh answer"]
    assert old not in contents(history)
    assert [m["id"] for m in history][2:] == [stored, done["id"]]
    # The replaced answer is a version beside the new one, not gone.
    assert len(history[3]["siblings"]) == 2 and history[3]["siblings"][1] == done["id"]
    assert history[3]["parent"] == stored
    # The model saw the question once, after the earlier turn, not the replaced answer.
    sent = fake_llm.calls[-1].body["messages"]
    assert [m["content"] for m in sent] == ["First question", "You said: First question",
                                            "Second question"]


def test_regenerate_and_edit_are_refused_while_an_answer_is_written(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab = chat.tab()
    assert "no answer to regenerate" in tab.wait("error", since=tab.emit("regenerate"))[1][
        "message"]
    tab.ask("Earlier")
    question = chat.reload(tab)[0]["id"]
    reply = fake_llm.reply("Slow one", Reply(["a", "b", "c"], pauses=(1,)))
    start = tab.send("Slow one")
    fake_llm.call("Slow one")
    for event, payload in (("regenerate", {}), ("edit", {"id": question, "text": "Changed"})):
        assert tab.wait("error", since=tab.emit(event, payload))[1]["message"] == BUSY
    reply.proceed()
    tab.wait("done", since=start)
    assert contents(chat.reload(tab)) == ["Earlier", "You said: Earlier", "Slow one", "abc"]


def test_a_message_sent_while_the_path_changes_is_refused_and_the_regeneration_goes_on(
        chat: ChatApp, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    tab = chat.tab()
    other = chat.tab(tab.browser)
    tab.ask("First question")
    store = chat.app.extensions["chatbot"].store
    choose = store.choose
    refused: list[str] = []

    def other_tab_sends_meanwhile(conversation_id: str, message_id: int) -> bool:
        # The instant between "nothing is being written" and the new version's place.
        refused.append(other.wait("error", since=other.send("Meanwhile"))[1]["message"])
        return choose(conversation_id, message_id)

    monkeypatch.setattr(store, "choose", other_tab_sends_meanwhile)
    fake_llm.reply("First question", Reply(["Again"]))
    answer, ending, _ = tab.answer(tab.emit("regenerate", {}))
    assert refused == [BUSY] and (answer, ending) == ("Again", "done")
    assert contents(chat.reload(tab)) == ["First question", "Again"]


def test_regenerating_a_summary_reads_the_page_again(
        make_chat: Callable[..., ChatApp], fake_llm: FakeLLM) -> None:
    page = html_page("Kite festival", "<p>The kite festival is held on the dunes in May.</p>")
    with serve({"/kites": (200, {"Content-Type": "text/html"}, page)}) as site:
        chat = make_chat(rag_url_allowlist=site.removeprefix("http://"))
        tab = chat.tab()
        _, ending, done = tab.answer(tab.send(f"/summarize {site}/kites"))
        assert ending == "done" and done["sources"][0]["url"] == f"{site}/kites"
        _, ending, again = tab.answer(tab.emit("regenerate", {}))
    assert ending == "done" and again["sources"] == done["sources"]
    prompts = [call.body["messages"][-1]["content"] for call in fake_llm.calls]
    assert len(prompts) == 2 and all("held on the dunes in May" in p for p in prompts)


def test_edit_adds_a_version_of_the_message_whose_later_turns_are_its_own(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab = chat.tab()
    other = chat.tab(tab.browser)
    for text in ("One", "Two", "Three"):
        tab.ask(text)
    two = chat.reload(tab)[2]
    assert two["content"] == "Two"

    seen = other.mark()
    start = tab.emit("edit", {"id": two["id"], "text": "  Two, edited  "})
    assert tab.answer(start)[:2] == ("You said: Two, edited", "done")
    assert contents(other.wait("history", since=seen)[1]["messages"]) == ["One",
                                                                          "You said: One"]
    assert other.wait("user_message", since=seen)[1] == {"text": "Two, edited"}
    assert contents(chat.reload(tab)) == ["One", "You said: One", "Two, edited",
                                          "You said: Two, edited"]
    assert [m["content"] for m in fake_llm.calls[-1].body["messages"]] == [
        "One", "You said: One", "Two, edited"]
    # The first message can be edited too: the conversation starts over from it.
    first = chat.reload(tab)[0]["id"]
    tab.answer(tab.emit("edit", {"id": first, "text": "Only this"}))
    history = chat.reload(tab)
    assert contents(history) == ["Only this", "You said: Only this"]
    assert history[0]["siblings"] == [first, history[0]["id"]]
    # The first version is one choice away, with every turn that followed it.
    tab.wait("history", since=tab.emit("choose_version", {"id": first}))
    assert contents(chat.reload(tab)) == ["One", "You said: One", "Two, edited",
                                          "You said: Two, edited"]


@pytest.mark.parametrize(("payload", "expected"), [
    ({"text": "x"}, "`id` must be a message id"),
    ({"id": "1", "text": "x"}, "`id` must be a message id"),
    ({"id": True, "text": "x"}, "`id` must be a message id"),
    ({"id": 1}, "`id` must be a message id"),
    ({"id": 1, "text": "   "}, "Empty message"),
    ({"id": 1, "text": "/help"}, "cannot be a command"),
    ({"id": 999, "text": "x"}, "no longer exists"),
])
def test_malformed_edits_are_refused(chat: ChatApp, payload: dict, expected: str) -> None:
    tab = chat.tab()
    tab.ask("Keep me")
    assert expected in tab.wait("error", since=tab.emit("edit", payload))[1]["message"]
    assert contents(chat.reload(tab)) == ["Keep me", "You said: Keep me"]


def test_another_owners_message_or_an_answer_cannot_be_edited(chat: ChatApp) -> None:
    mine, theirs = chat.tab(), chat.tab()
    theirs.ask("Their secret")
    mine.ask("My question")
    their_ids = [m["id"] for m in chat.reload(theirs)]
    my_answer = chat.reload(mine)[1]["id"]
    for message_id in (*their_ids, my_answer):
        start = mine.emit("edit", {"id": message_id, "text": "Hijacked"})
        assert "no longer exists" in mine.wait("error", since=start)[1]["message"]
    assert contents(chat.reload(theirs)) == ["Their secret", "You said: Their secret"]
    assert contents(chat.reload(mine)) == ["My question", "You said: My question"]


def search(tab: Tab, query: str) -> list[dict]:
    data = tab.wait("search_results", since=tab.emit("search", {"q": query}))[1]
    assert data["q"] == query
    return data["results"]


def test_search_finds_titles_and_messages_of_the_owner_only(chat: ChatApp) -> None:
    mine, theirs = chat.tab(), chat.tab()
    mine.ask("How long should sourdough proof?")
    first = mine.history()["conversation"]["id"]
    second = mine.wait("history", since=mine.send("/reset"))[1]["conversation"]["id"]
    mine.ask("Tell me about <script>alert(1)</script> tags and sourdough")
    theirs.ask("My private sourdough recipe")
    mine.emit("rename", {"id": first, "title": "Baking notes"})

    results = search(mine, "sourd")  # the last word is a prefix: results while typing
    assert {r["conversation"] for r in results} == {first, second}
    assert all("private" not in r["snippet"] for r in results)
    hit = next(r for r in results if r["message"] is not None and "proof" in r["snippet"])
    assert hit["title"] == "Baking notes" and hit["conversation"] == first
    assert "<mark>sourdough</mark>" in hit["snippet"]
    ids = {m["id"] for m in chat.reload(mine)}
    assert all(r["message"] in ids for r in results
               if r["conversation"] == second and r["message"] is not None)
    escaped = next(r for r in results if "script" in r["snippet"])["snippet"]
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped

    title = search(mine, "baking")
    assert title == [{"conversation": first, "title": "Baking notes", "message": None,
                      "snippet": "<mark>Baking</mark> notes"}]
    assert search(theirs, "baking") == [] and len(search(theirs, "sourdough")) == 2


@pytest.mark.parametrize("query", ['"', "*", "NEAR(", "sourdough NEAR", 'sourdough"',
                                   "OR sourdough", "-sourdough", "sourdough AND",
                                   "title:sourdough", "^sourdough", "(", "", "   ", "…?!"])
def test_search_syntax_in_a_query_is_text_never_an_error(chat: ChatApp, query: str) -> None:
    tab = chat.tab()
    tab.ask("Title: sourdough and bread near the oven, or not")
    results = search(tab, query)
    if any(c.isalnum() for c in query):
        assert results, query
    else:
        assert results == []
    assert "error" not in [name for name, _ in tab.events()]


def test_search_follows_edits_deletions_and_malformed_queries(chat: ChatApp) -> None:
    tab = chat.tab()
    tab.ask("Apricot jam")
    question = chat.reload(tab)[0]["id"]
    tab.answer(tab.emit("edit", {"id": question, "text": "Plum jam"}))
    # The old version stays, and can be found (choosing it shows it again).
    assert question in [r["message"] for r in search(tab, "apricot")]
    # The question and the answer echoing it (the title, which followed the question, is
    # left out: its conversation has message results).
    assert [r["message"] is None for r in search(tab, "plum")] == [False, False]
    assert chat.tab(tab.browser).history()["conversation"]["title"] == "Plum jam"
    tab.emit("delete", {"id": tab.history()["conversation"]["id"]})
    assert search(tab, "plum") == []
    assert "`q` must be a string" in tab.wait("error", since=tab.emit("search", {"q": 3}))[
        1]["message"]


def test_the_search_migration_indexes_existing_conversations(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, [m for m in MIGRATIONS if m.__name__ < "m003"])
    db.execute("INSERT INTO conversations (id, browser, title, created, updated) "
               "VALUES ('c1', 'b1', 'Old chat about kites', 0, 0)")
    db.execute("INSERT INTO messages (conversation, role, content, created) "
               "VALUES ('c1', 'user', 'How do kites fly?', 0)")
    db.close()
    store = Store(path)
    try:
        assert [(h.conversation, h.message) for h in store.search("b1", "old")] == [
            ("c1", None)]
        assert [(h.conversation, h.message) for h in store.search("b1", "fly")] == [("c1", 1)]
        assert store.search("b2", "kites") == []
    finally:
        store.close()


def export(tab: Tab, conversation: str) -> dict:
    response = tab.browser.get(f"/conversations/{conversation}/export.json")
    assert response.status_code == 200
    return json.loads(response.text)


def post_import(tab: Tab, body: bytes, as_file: bool = True, origin: str = ORIGIN):  # noqa: ANN201
    if as_file:
        return tab.browser.post("/conversations/import", headers={"Origin": origin},
                                data={"file": (io.BytesIO(body), "chat.json")})
    return tab.browser.post("/conversations/import", headers={"Origin": origin}, data=body,
                            content_type="application/json")


def renumbered(exported: dict) -> dict:
    """An export without its stored ids: messages and parents named by their place."""
    place = {m["id"]: n for n, m in enumerate(exported["messages"])}
    return {**{k: v for k, v in exported.items() if k != "id"}, "messages": [
        {**m, "id": place[m["id"]], "parent": place.get(m["parent"])}
        for m in exported["messages"]]}


def test_an_export_imports_as_a_new_conversation_of_the_importer(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    source = chat.tab()
    source.ask("What is a kite?")
    fake_llm.reply("Broken", Reply([], status=500))
    source.ask("Broken")
    original = export(source, source.history()["conversation"]["id"])
    original["messages"][1]["sources"] = [{
        "n": 1, "title": "Kites", "url": "https://kites.example", "cited": True,
        "heading": "Kites › Flying", "passage": "A kite flies on the wind.", "before": "",
        "after": "", "highlights": ["A kite flies on the wind."]}]
    original["messages"][1]["seen"] = {"system": 90, "passages": 40, "retrieving_s": 0.1,
                                       "left_out": [{"title": "Birds", "url": "/b.md"}]}
    original["messages"][3]["not_covered"] = {"collection": "docs", "query": "Broken",
                                              "closest": [{"title": "Kites"}]}
    assert {m["state"] for m in original["messages"]} == {"done", "error"}

    importer = chat.tab()
    for as_file in (True, False):
        start = importer.mark()
        response = post_import(importer, json.dumps(original).encode(), as_file)
        assert response.status_code == 201, response.text
        created = response.json
        assert created["title"] == original["title"] and created["messages"] == 4
        listing = importer.wait("conversations", since=start)[1]["conversations"]
        assert created["id"] in {c["id"] for c in listing}
        again = export(importer, created["id"])
        assert again["id"] != original["id"]
        assert renumbered(again) == renumbered(original)
    # The source's owner does not see it, nor can they export it.
    assert source.browser.get(f"/conversations/{created['id']}/export.json").status_code == 404
    # The imported history is the model's context for the next question.
    importer.emit("switch", {"id": created["id"]})
    importer.ask("And then?")
    sent = [m["content"] for m in fake_llm.calls[-1].body["messages"]]
    assert sent == ["What is a kite?", "You said: What is a kite?", "And then?"]


def test_an_import_keeps_only_known_answer_fields_of_their_types(chat: ChatApp) -> None:
    hostile = {"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a [1]", "sources": [
            {"title": "T" * 10_000, "url": "javascript:alert(1)", "n": "1", "cited": "yes",
             "passage": ["not", "text"], "highlights": ["ok", 5, {"x": 1}] * 50,
             "extra": "<script>"},
            {"url": "https://no.title.example"}],
         "seen": {"system": "many", "passages": 40, "left_out": ["x", {"title": "L"}],
                  "secret": 1},
         "not_covered": {"collection": "c"}}]}
    tab = chat.tab()
    response = post_import(tab, json.dumps(hostile).encode())
    assert response.status_code == 201, response.text
    answer = export(tab, response.json["id"])["messages"][1]
    (source,) = answer["sources"]
    assert source == {"title": "T" * 500, "url": "javascript:alert(1)",
                      "highlights": ["ok"] * 7}
    assert answer["seen"] == {"passages": 40, "left_out": [{"title": "L"}]}
    assert "not_covered" not in answer  # without the query it searched for


@pytest.mark.parametrize(("body", "expected"), [
    (b"not json", "not JSON"),
    (b"[1, 2]", "no `messages` list"),
    (b'{"messages": []}', "no messages to import"),
    (b'{"messages": [{"role": "system", "content": "x"}]}', "`role` must be one of"),
    (b'{"messages": [{"role": "user", "content": 3}]}', "`content` must be a string"),
    (b'{"messages": [{"role": "user", "content": "x", "state": "streaming"}]}',
     "`state` must be one of"),
    (b'{"messages": [{"role": "user", "content": "x", "sources": "a"}]}',
     "`sources` must be a list"),
    (b'{"messages": [{"role": "user", "content": "x", "created": "yesterday"}]}',
     "ISO 8601"),
    (b'{"title": 5, "messages": [{"role": "user", "content": "x"}]}', "`title` must be"),
    (b'{"messages": [1]}', "Message 1 is not an object"),
])
def test_an_invalid_import_is_refused_with_a_readable_reason(
        chat: ChatApp, body: bytes, expected: str) -> None:
    tab = chat.tab()
    response = post_import(tab, body)
    assert response.status_code == 400 and expected in response.json["error"]
    assert [c["title"] for c in tab.wait("conversations")[1]["conversations"]] == ["New chat"]


def test_an_import_too_large_or_from_another_site_is_refused(chat: ChatApp) -> None:
    tab = chat.tab()
    huge = json.dumps({"messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]})
    for as_file in (True, False):
        response = post_import(tab, huge.encode(), as_file)
        assert response.status_code in (400, 413) and "too large" in response.json["error"]
    small = b'{"messages": [{"role": "user", "content": "hi"}]}'
    assert post_import(tab, small, origin="https://evil.example").status_code == 403
    untitled = post_import(tab, small)
    assert untitled.status_code == 201 and untitled.json["title"] == "hi"


def test_with_accounts_each_user_searches_edits_and_imports_only_their_own(
        make_chat: Callable[..., ChatApp]) -> None:
    app = make_chat(auth=True)
    accounts = app.app.extensions["chatbot"].accounts
    accounts.add("alice", PASSWORD, admin=True)
    accounts.add("bob", PASSWORD)
    alice = app.tab(app.signed_in("alice", PASSWORD))
    bob = app.tab(app.signed_in("bob", PASSWORD))
    alice.ask("Alice's walrus question")
    walrus = app.reload(alice)[0]["id"]

    assert search(bob, "walrus") == []
    assert len(search(alice, "walrus")) == 2
    start = bob.emit("edit", {"id": walrus, "text": "Bob was here"})
    assert "no longer exists" in bob.wait("error", since=start)[1]["message"]
    assert contents(app.reload(alice))[0] == "Alice's walrus question"

    exported = alice.browser.get(
        f"/conversations/{alice.history()['conversation']['id']}/export.json").data
    start = bob.mark()
    imported = post_import(bob, exported)
    assert imported.status_code == 201
    assert imported.json["id"] in {
        c["id"] for c in bob.wait("conversations", since=start)[1]["conversations"]}
    assert len(search(bob, "walrus")) == 2 and len(search(alice, "walrus")) == 2
    assert alice.browser.get(
        f"/conversations/{imported.json['id']}/export.json").status_code == 404
    assert post_import(app.tab(app.app.test_client()), exported).status_code == 401


def test_a_user_over_the_message_limit_cannot_regenerate_and_loses_nothing(
        make_chat: Callable[..., ChatApp]) -> None:
    app = make_chat(auth=True, user_messages_per_minute=1)
    app.app.extensions["chatbot"].accounts.add("alice", PASSWORD)
    alice = app.tab(app.signed_in("alice", PASSWORD))
    alice.ask("Only one")
    start = alice.emit("regenerate")
    assert "in the last minute" in alice.wait("error", since=start)[1]["message"]
    assert "history" not in [name for name, _ in alice.events(start)]
    assert contents(app.reload(alice)) == ["Only one", "You said: Only one"]
