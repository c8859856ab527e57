"""Versions of a turn over the Socket.IO protocol, in-process against the fake LLM server:
choosing a version, continuing a stopped or cut answer, branching into a new conversation,
and what the model is sent (only the path shown); bad input changes nothing."""

from __future__ import annotations

import pytest

from chatbot.chat.chat import BUSY
from chatbot.chat.continuation import transcript_prompt
from chatbot.chat.prompt import window_start
from chatbot.db.rows import Conversation, Message
from harness.fake_llm import FakeLLM, Reply
from harness.inprocess import ChatApp, Tab
from llmserver.models.chat_format import format_transcript


def contents(messages: list[dict]) -> list[str]:
    return [m["content"] for m in messages]


def two_versions(chat: ChatApp, fake_llm: FakeLLM) -> tuple[Tab, list[dict]]:
    """A conversation whose second answer was regenerated, the new version followed by a turn."""
    tab = chat.tab()
    tab.ask("First")
    fake_llm.reply("Second", Reply(["Old", " answer"]))
    tab.ask("Second")
    fake_llm.reply("Second", Reply(["New", " answer"]))
    tab.answer(tab.emit("regenerate", {}))
    tab.ask("Third")
    return tab, chat.reload(tab)


def test_choosing_a_version_shows_its_own_later_turns_and_the_model_sees_only_them(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab, shown = two_versions(chat, fake_llm)
    other = chat.tab(tab.browser)
    assert contents(shown) == ["First", "You said: First", "Second", "New answer", "Third",
                               "You said: Third"]
    old, new = shown[3]["siblings"]
    assert new == shown[3]["id"] and shown[3]["parent"] == shown[2]["id"]
    assert [len(m["siblings"]) for m in shown] == [1, 1, 1, 2, 1, 1]

    seen = other.mark()
    history = tab.wait("history", since=tab.emit("choose_version", {"id": old}))[1]
    assert contents(history["messages"]) == ["First", "You said: First", "Second", "Old answer"]
    assert contents(other.wait("history", since=seen)[1]["messages"])[-1] == "Old answer"
    # Stored: a reload shows the same; a question now follows the old version.
    assert contents(chat.reload(tab))[-1] == "Old answer"
    tab.ask("Fourth")
    sent = [m["content"] for m in fake_llm.calls[-1].body["messages"]]
    assert sent == ["First", "You said: First", "Second", "Old answer", "Fourth"]
    # And back: the new version comes with the turn that followed it.
    tab.wait("history", since=tab.emit("choose_version", {"id": new}))
    assert contents(chat.reload(tab))[3:] == ["New answer", "Third", "You said: Third"]


def test_regenerating_an_earlier_answer_by_id_sends_only_its_path(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab, shown = two_versions(chat, fake_llm)
    first_answer = shown[1]["id"]
    fake_llm.reply("First", Reply(["Another", " first"]))
    answer, ending, done = tab.answer(tab.emit("regenerate", {"id": first_answer}))
    assert (answer, ending) == ("Another first", "done")
    assert [m["content"] for m in fake_llm.calls[-1].body["messages"]] == ["First"]
    history = chat.reload(tab)
    assert contents(history) == ["First", "Another first"]
    assert history[1]["siblings"] == [first_answer, done["id"]]


def test_the_whole_path_is_shown_again_after_a_new_version(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab = chat.tab()
    tab.ask("Only")
    start = tab.emit("regenerate", {})
    # The path up to the question's place first; then (after `done`) the whole path.
    assert contents(tab.wait("history", since=start)[1]["messages"]) == []
    done = tab.answer(start)[2]
    final = tab.wait("history", since=start, where=lambda d: len(d["messages"]) == 2)[1]
    assert final["messages"][-1]["id"] == done["id"]
    assert len(final["messages"][-1]["siblings"]) == 2


def test_continue_appends_to_a_stopped_answer_in_place(chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab = chat.tab()
    reply = fake_llm.reply("Count", Reply(["one", " two", " three"], pauses=(2,)))
    start = tab.send("Count")
    fake_llm.call("Count")
    tab.wait("token", since=start)
    tab.emit("stop", {})
    done = tab.wait("done", since=start)[1]
    reply.proceed()
    assert done["stopped"]
    stopped = chat.reload(tab)[-1]
    assert stopped["state"] == "stopped"
    partial = stopped["content"]

    fake_llm.reply(partial, Reply([" four", " five"]))
    start = tab.emit("continue", {"id": stopped["id"]})
    shown = tab.wait("history", since=start)[1]
    assert shown["streaming"]["text"] == partial and shown["streaming"]["id"] == stopped["id"]
    assert contents(shown["messages"]) == ["Count"]
    text, ending, done = tab.answer(start)
    assert (text, ending) == (" four five", "done") and done["id"] == stopped["id"]
    # The model was sent the question, then the answer so far as its own words to go on.
    assert fake_llm.calls[-1].body["messages"][-2:] == [
        {"role": "user", "content": "Count"}, {"role": "assistant", "content": partial}]
    final = chat.reload(tab)
    assert contents(final) == ["Count", partial + " four five"]
    assert final[-1]["id"] == stopped["id"] and "state" not in final[-1]


def test_continue_goes_on_from_an_answer_cut_at_the_length_limit(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab = chat.tab()
    tab.emit("settings", {"max_tokens": 70})
    fake_llm.reply("Long", Reply(["w "] * 80))
    _, _, done = tab.ask("Long")
    assert done["finish_reason"] == "length"
    cut = chat.reload(tab)[-1]
    fake_llm.reply(cut["content"], Reply(["end"]))
    assert tab.answer(tab.emit("continue", {"id": cut["id"]}))[:2] == ("end", "done")
    assert chat.reload(tab)[-1]["content"] == cut["content"] + "end"


def test_branch_copies_the_path_into_a_new_current_conversation(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab, shown = two_versions(chat, fake_llm)
    tab.emit("settings", {"temperature": 0.3})
    source = chat.tab(tab.browser).history()["conversation"]
    start = tab.emit("branch", {"id": shown[3]["id"]})
    history = tab.wait("history", since=start)[1]
    assert history["conversation"]["id"] != source["id"]
    assert history["conversation"]["title"] == source["title"]
    assert contents(history["messages"]) == ["First", "You said: First", "Second",
                                             "New answer"]
    assert all(len(m["siblings"]) == 1 for m in history["messages"])
    assert history["settings"]["temperature"] == 0.3
    listing = tab.wait("conversations", since=start)[1]["conversations"]
    assert {source["id"], history["conversation"]["id"]} <= {c["id"] for c in listing}
    # It is the current one (a reload opens it), and the old one is as it was.
    assert chat.tab(tab.browser).history()["conversation"]["id"] == history["conversation"]["id"]
    tab.ask("Go on")
    assert [m["content"] for m in fake_llm.calls[-1].body["messages"]] == [
        "First", "You said: First", "Second", "New answer", "Go on"]
    tab.wait("history", since=tab.emit("switch", {"id": source["id"]}))
    assert contents(chat.reload(tab)) == contents(shown)


@pytest.mark.parametrize("event", ["choose_version", "continue", "branch"])
@pytest.mark.parametrize(("payload", "expected"), [
    ({}, "`id` must be a message id"),
    ({"id": "3"}, "`id` must be a message id"),
    ({"id": True}, "`id` must be a message id"),
    ({"id": 10**30}, "no longer exists"),
    ({"id": 99999}, "no longer exists"),
])
def test_malformed_or_unknown_ids_are_refused_and_change_nothing(
        chat: ChatApp, event: str, payload: dict, expected: str) -> None:
    tab = chat.tab()
    tab.ask("Keep me")
    before = chat.reload(tab)
    conversation = tab.history()["conversation"]["id"]
    assert expected in tab.refused(event, payload)
    assert chat.reload(tab) == before
    assert tab.history()["conversation"]["id"] == conversation


def test_another_owners_messages_are_treated_as_unknown(chat: ChatApp) -> None:
    mine, theirs = chat.tab(), chat.tab()
    theirs.ask("Their secret")
    mine.ask("Mine")
    their_ids = [m["id"] for m in chat.reload(theirs)]
    listing_before = mine.history()["conversation"]["id"]
    for event in ("choose_version", "continue", "branch", "regenerate"):
        for message_id in their_ids:
            assert "no longer exists" in mine.refused(event, {"id": message_id})
    assert contents(chat.reload(mine)) == ["Mine", "You said: Mine"]
    assert mine.history()["conversation"]["id"] == listing_before
    assert contents(chat.reload(theirs)) == ["Their secret", "You said: Their secret"]


def test_only_a_stopped_or_cut_answer_can_be_continued(chat: ChatApp) -> None:
    tab = chat.tab()
    tab.ask("Whole")
    question, answer = (m["id"] for m in chat.reload(tab))
    assert "Only an answer that was stopped" in tab.refused("continue", {"id": answer})
    assert "no longer exists" in tab.refused("continue", {"id": question})
    assert contents(chat.reload(tab)) == ["Whole", "You said: Whole"]


def test_versions_cannot_change_while_an_answer_is_written(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab = chat.tab()
    tab.ask("Earlier")
    first = chat.reload(tab)[0]["id"]
    reply = fake_llm.reply("Slow", Reply(["a", "b"], pauses=(1,)))
    start = tab.send("Slow")
    fake_llm.call("Slow")
    assert tab.refused("choose_version", {"id": first}) == BUSY
    reply.proceed()
    tab.wait("done", since=start)
    assert contents(chat.reload(tab)) == ["Earlier", "You said: Earlier", "Slow", "ab"]


def test_the_base_model_continuation_is_llmservers_transcript_and_the_partial_answer() -> None:
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Count to five"}]
    partial = "One, two,"
    written = format_transcript(messages).prompt  # ends with the assistant's tag
    assert transcript_prompt([*messages, {"role": "assistant", "content": partial}]) == (
        f"{written} {partial}")


def test_a_continuation_that_fails_leaves_the_answer_stopped_to_try_again(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab = chat.tab()
    reply = fake_llm.reply("Story", Reply(["Once", " upon"], pauses=(1,)))
    start = tab.send("Story")
    fake_llm.call("Story")
    tab.wait("token", since=start)
    tab.emit("stop", {})
    tab.wait("done", since=start)
    reply.proceed()
    stopped = chat.reload(tab)[-1]
    fake_llm.reply(stopped["content"], Reply([], status=500))
    _, ending, _ = tab.answer(tab.emit("continue", {"id": stopped["id"]}))
    assert ending == "error"
    after = chat.reload(tab)[-1]
    assert (after["id"], after["content"], after["state"]) == (
        stopped["id"], stopped["content"], "stopped")
    fake_llm.reply(stopped["content"], Reply([" a time"]))
    assert tab.answer(tab.emit("continue", {"id": stopped["id"]}))[:2] == (" a time", "done")
    assert chat.reload(tab)[-1]["content"] == stopped["content"] + " a time"


def test_a_context_window_begun_in_another_version_is_fitted_again() -> None:
    conversation = Conversation(id="c", title="", created=0, updated=0, context_start=7)
    on_path = [Message(id=n, role="user", content="") for n in (3, 7, 9)]
    elsewhere = [Message(id=n, role="user", content="") for n in (3, 8, 9)]
    assert window_start(conversation, on_path) == 7
    assert window_start(conversation, elsewhere) == 0
