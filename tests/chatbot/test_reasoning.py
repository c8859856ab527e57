"""A reasoning model's thoughts, in-process against the fake LLM server: streamed as
`reasoning_content` or as `<think>…</think>` split anywhere, relayed as `reasoning` events
apart from the answer's tokens, stored with the answer, exported and imported, counted in
its usage and never sent back to the model."""

from __future__ import annotations

import json

import pytest

from chatbot.chat.thinking import ThinkSplitter, Thought
from harness.fake_llm import FakeLLM, Reply, words
from harness.inprocess import ORIGIN, ChatApp, Tab
from harness.processes import wait_until

THOUGHTS = ["The user", " wants", " a sum.", " 2 + 2 = 4."]
ANSWER = ["It", " is", " 4."]


def split(pieces: list[str]) -> tuple[str, str]:
    """The thoughts and the answer a splitter makes of `pieces`."""
    splitter = ThinkSplitter()
    out: list[str] = []
    for piece in pieces:
        out += splitter.feed(piece) if not splitter.done else [piece]
    if not splitter.done:
        out += splitter.end()
    return ("".join(p for p in out if isinstance(p, Thought)),
            "".join(p for p in out if not isinstance(p, Thought)))


@pytest.mark.parametrize("text, thoughts, answer", [
    ("<think>Let me see.</think>\n\nHello there.", "Let me see.", "Hello there."),
    ("\n<think>a < b</think> ok", "a < b", "ok"),
    ("<this is no tag> at all", "", "<this is no tag> at all"),
    ("Plain answer with <think>inside</think>", "",
     "Plain answer with <think>inside</think>"),
    ("<think>never closed", "never closed", ""),
    ("<thi", "", "<thi"),
])
def test_a_think_block_is_split_off_wherever_the_chunks_break(
        text: str, thoughts: str, answer: str) -> None:
    for cut in range(len(text) + 1):
        for second in range(cut, len(text) + 1):
            pieces = [text[:cut], text[cut:second], text[second:]]
            assert split(pieces) == (thoughts, answer), pieces


def test_an_answer_without_a_think_block_keeps_its_pieces_as_they_came() -> None:
    # Each piece is a token of the answer's count when the server gives no usage.
    splitter = ThinkSplitter()
    assert [splitter.feed(p) for p in (" ", "\n", "<", "b>Hi")] == \
        [[], [], [], [" ", "\n", "<", "b>Hi"]]
    assert splitter.done


def answer_events(tab: Tab, start: int) -> tuple[str, str, dict]:
    """The reasoning and the answer streamed since `start`, and the `done`."""
    _, event, done = tab.answer(start)
    assert event == "done", done
    reasoning = "".join(r["text"] for r in tab.since(start, "reasoning"))
    return reasoning, "".join(t["text"] for t in tab.since(start, "token")), done


def test_reasoning_content_streams_apart_from_the_answer_and_is_stored_with_it(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    fake_llm.reply("What is 2 + 2?", Reply(ANSWER, reasoning=THOUGHTS))
    tab = chat.tab()
    start = tab.send("What is 2 + 2?")
    reasoning, text, done = answer_events(tab, start)

    assert (reasoning, text) == ("".join(THOUGHTS), "".join(ANSWER))
    names = [n for n, _ in tab.events(start) if n in ("reasoning", "token")]
    assert names == ["reasoning"] * len(THOUGHTS) + ["token"] * len(ANSWER), \
        "the thoughts come first, and no token carries them"
    assert done["reasoning"] == "".join(THOUGHTS) and done["thought_s"] >= 0
    # The server's usage counts the thoughts among the answer's tokens.
    assert done["usage"]["completion_tokens"] == len(THOUGHTS) + len(ANSWER)
    assert done["usage"]["reasoning_tokens"] == len(THOUGHTS)

    [stored] = [m for m in chat.reload(tab) if m["role"] == "assistant"]
    assert (stored["content"], stored["reasoning"], stored["thought_s"]) == \
        ("".join(ANSWER), "".join(THOUGHTS), done["thought_s"])
    assert stored["usage"] == done["usage"]


def test_later_prompts_hold_the_answer_without_its_reasoning(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    fake_llm.reply("What is 2 + 2?", Reply(ANSWER, reasoning=THOUGHTS))
    tab = chat.tab()
    answer_events(tab, tab.send("What is 2 + 2?"))
    store = chat.app.extensions["chatbot"].store
    conversation = tab.history()["conversation"]["id"]
    # The next turn's budget counts the text it sends again, not the tokens the thoughts took.
    wait_until(lambda: store.messages(conversation)[-1].tokens == words("".join(ANSWER)),
               "the answer counted without its thoughts", timeout=10)
    tab.ask("And 3 + 3?")
    sent = fake_llm.call("And 3 + 3?").body["messages"]
    assert sent[-2] == {"role": "assistant", "content": "".join(ANSWER)}
    assert not any("wants a sum" in m["content"] for m in sent)


def test_a_think_block_split_across_chunks_is_reasoning_not_answer(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    tokens = ["<thi", "nk>", "Two", " and two", "</th", "ink>", "\n\n", "Four", "."]
    fake_llm.reply("Add two and two", Reply(tokens, usage=False))
    tab = chat.tab()
    reasoning, text, done = answer_events(tab, tab.send("Add two and two"))

    assert (reasoning, text) == ("Two and two", "Four.")
    assert "<" not in "".join(t["text"] for t in tab.since(0, "token"))
    # Without the server's usage, the pieces of both are counted.
    assert done["usage"]["completion_tokens"] == 4 and done["usage"]["reasoning_tokens"] == 2
    [stored] = [m for m in chat.reload(tab) if m["role"] == "assistant"]
    assert (stored["content"], stored["reasoning"]) == ("Four.", "Two and two")
    tab.ask("Why?")
    assert fake_llm.call("Why?").body["messages"][-2]["content"] == "Four."


def test_a_tab_joining_while_the_model_thinks_gets_the_thoughts_so_far(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    reply = fake_llm.reply("Think slowly", Reply(["<think>", "Hmm", "</think>", "Done"],
                                                 pauses=(2,)))
    first = chat.tab()
    start = first.send("Think slowly")
    first.wait("reasoning", since=start)
    joined = chat.tab(first.browser).history()
    assert joined["streaming"]["reasoning"] == "Hmm" and joined["streaming"]["text"] == ""
    reply.proceed()
    assert answer_events(first, start)[:2] == ("Hmm", "Done")


def test_an_answer_without_reasoning_carries_no_reasoning_fields(chat: ChatApp) -> None:
    tab = chat.tab()
    _, _, done = answer_events(tab, tab.send("Hello"))
    assert "reasoning" not in done and "reasoning_tokens" not in done["usage"]
    [stored] = [m for m in chat.reload(tab) if m["role"] == "assistant"]
    assert "reasoning" not in stored and "thought_s" not in stored


def test_the_reasoning_is_exported_and_imported_with_its_answer(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    fake_llm.reply("What is 2 + 2?", Reply(ANSWER, reasoning=THOUGHTS))
    tab = chat.tab()
    answer_events(tab, tab.send("What is 2 + 2?"))
    conversation = tab.history()["conversation"]["id"]
    exported = json.loads(tab.browser.get(f"/conversations/{conversation}/export.json").text)
    answer = exported["messages"][1]
    assert answer["reasoning"] == "".join(THOUGHTS) and answer["thought_s"] >= 0
    markdown = tab.browser.get(f"/conversations/{conversation}/export.md").text
    assert f"<summary>Thought for {answer['thought_s']:g} s</summary>" in markdown
    assert "> The user wants a sum." in markdown

    answer["thought_s"] = "long"  # a wrong type is dropped, not stored
    response = tab.browser.post("/conversations/import", headers={"Origin": ORIGIN},
                                data=json.dumps(exported), content_type="application/json")
    assert response.status_code == 201, response.text
    again = json.loads(tab.browser.get(
        f"/conversations/{response.json['id']}/export.json").text)["messages"][1]
    assert again["reasoning"] == "".join(THOUGHTS) and "thought_s" not in again

    answer["reasoning"] = ["not", "text"]
    refused = tab.browser.post("/conversations/import", headers={"Origin": ORIGIN},
                               data=json.dumps(exported), content_type="application/json")
    assert refused.status_code == 400
    assert "`reasoning` must be a string" in refused.json["error"]


def test_an_answer_stopped_while_the_model_thinks_keeps_the_thoughts_shown(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    fake_llm.reply("Ponder", Reply(ANSWER, reasoning=THOUGHTS, pauses=(0,)))
    tab = chat.tab()
    start = tab.send("Ponder")
    tab.wait("reasoning", since=start,
             where=lambda r: r["text"].endswith(THOUGHTS[-1]))
    tab.emit("stop", {"shown": 0})
    reasoning, text, done = answer_events(tab, start)
    assert done["stopped"] and (reasoning, text) == ("".join(THOUGHTS), "")
    assert done["reasoning"] == "".join(THOUGHTS)
    [stored] = [m for m in chat.reload(tab) if m["role"] == "assistant"]
    assert (stored["state"], stored["content"], stored["reasoning"]) == \
        ("stopped", "", "".join(THOUGHTS))
