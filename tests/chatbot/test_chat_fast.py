"""An answer from message to `done` without the model: the app in-process, Flask-SocketIO's
test client, and a canned OpenAI-style stream from a fake LLM server on loopback.

Streaming, history, what goes upstream, the slot queue, stop, coalescing, upstream failures
and isolation between clients. What only the real model and processes can show stays in
test_socket.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.fake_llm import MODEL, WAIT_S, FakeLLM, Reply
from harness.inprocess import ChatApp
from harness.processes import free_port

TOKENS = [f" t{i}" for i in range(10)]


def test_a_message_streams_its_tokens_then_done_with_the_stored_answer(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    fake_llm.reply("What is up?", Reply(TOKENS))
    tab = chat.tab()
    start = tab.send("What is up?")
    text, event, done = tab.answer(start)
    tab.wait("status", since=start, where=lambda s: s["state"] == "idle")

    assert event == "done", done
    assert [t["text"] for t in tab.since(start, "token")] == TOKENS
    states = [s["state"] for s in tab.since(start, "status")]
    assert states == ["generating", "idle"]
    assert done["usage"] == {"prompt_tokens": 3, "completion_tokens": 10, "total_tokens": 13}
    assert (done["sources"], done["stopped"], done["finish_reason"], done["model"]) == \
        ([], False, "stop", MODEL)
    [stored] = [m for m in chat.reload(tab) if m["role"] == "assistant"]
    assert stored["id"] == done["id"] and stored["content"] == text == "".join(TOKENS)


def test_without_usage_from_the_server_the_answer_is_counted(chat: ChatApp,
                                                             fake_llm: FakeLLM) -> None:
    fake_llm.reply("Count yourself", Reply(TOKENS, usage=False))
    _, event, done = chat.tab().ask("Count yourself")
    assert event == "done"
    # The prompt as the budget planned it (template included), the answer as streamed.
    assert done["usage"]["completion_tokens"] == len(TOKENS)
    assert done["usage"]["prompt_tokens"] > 0


def test_history_comes_back_on_reload_and_in_a_second_tab_only(chat: ChatApp) -> None:
    first = chat.tab()
    answer, _, _ = first.ask("Name a primary colour.")
    for _ in range(2):  # a reload, then another tab of the same browser
        history = chat.tab(first.browser).history()
        assert [(m["role"], m["content"]) for m in history["messages"]] == \
            [("user", "Name a primary colour."), ("assistant", answer)]
        assert history["conversation"]["title"] == "Name a primary colour."
    assert chat.tab().history()["messages"] == [], "another browser has its own conversation"


def test_the_history_and_settings_go_upstream(chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab = chat.tab()
    tab.wait("settings", since=tab.emit("settings", {"system_prompt": "Be brief.",
                                                     "temperature": 0.2}))
    first, _, _ = tab.ask("First question")
    tab.wait("settings", since=tab.send("/set max_tokens 2"))
    _, _, done = tab.ask("Second question")

    body = fake_llm.call("Second question").body
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "First question"},
                                {"role": "assistant", "content": first},
                                {"role": "user", "content": "Second question"}]
    assert (body["model"], body["temperature"], body["max_tokens"], body["stream"]) == \
        (MODEL, 0.2, 2, True)
    assert done["finish_reason"] == "length" and done["usage"]["completion_tokens"] == 2


def test_with_one_slot_later_questions_queue_first_come_first_served(
        make_chat: Callable[..., ChatApp], fake_llm: FakeLLM) -> None:
    fake_llm.slots = 1
    chat = make_chat()
    first, second = (fake_llm.reply(q, Reply(TOKENS, pauses=(1,))) for q in ("first", "second"))
    a, b, c = chat.tab(), chat.tab(), chat.tab()
    start_a = a.send("first")
    a.wait("token", since=start_a)  # generating, and holding the only slot
    start_b = b.send("second")
    assert b.wait("status", since=start_b, where=lambda s: s["state"] == "queued")[1] == \
        {"state": "queued", "position": 1}
    start_c = c.send("third")
    c.wait("status", since=start_c, where=lambda s: s == {"state": "queued", "position": 2})
    assert fake_llm.questions() == ["first"], "nothing waiting was sent upstream"

    first.proceed()
    assert a.answer(start_a)[1] == "done"
    b.wait("token", since=start_b)
    c.wait("status", since=start_c, where=lambda s: s == {"state": "queued", "position": 1})
    assert fake_llm.questions() == ["first", "second"]
    second.proceed()
    for tab, start in ((b, start_b), (c, start_c)):
        assert tab.answer(start)[1] == "done"
    assert fake_llm.questions() == ["first", "second", "third"]
    assert [s["state"] for s in c.since(start_c, "status")] == \
        ["queued", "queued", "generating", "idle"]


def test_a_queued_question_can_be_stopped_without_reaching_the_server(
        make_chat: Callable[..., ChatApp], fake_llm: FakeLLM) -> None:
    fake_llm.slots = 1
    chat = make_chat()
    holding = fake_llm.reply("first", Reply(TOKENS, pauses=(1,)))
    a, b = chat.tab(), chat.tab()
    start_a = a.send("first")
    a.wait("token", since=start_a)
    start_b = b.send("second")
    b.wait("status", since=start_b, where=lambda s: s["state"] == "queued")
    b.emit("stop", {})
    _, event, done = b.answer(start_b)
    assert event == "done" and done["stopped"] and done["usage"]["completion_tokens"] == 0
    holding.proceed()
    assert a.answer(start_a)[1] == "done"
    assert fake_llm.questions() == ["first"]


def test_the_chatbot_follows_the_servers_slot_count(chat: ChatApp, fake_llm: FakeLLM) -> None:
    # The fake reports 4 slots: two answers generate at once, nobody is queued.
    replies = [fake_llm.reply(q, Reply(TOKENS, pauses=(1,))) for q in ("one", "two")]
    tabs = [chat.tab(), chat.tab()]
    starts = [tab.send(q) for tab, q in zip(tabs, ("one", "two"), strict=True)]
    for tab, start in zip(tabs, starts, strict=True):
        tab.wait("token", since=start)
    assert fake_llm.active() == 2
    for reply in replies:
        reply.proceed()
    for tab, start in zip(tabs, starts, strict=True):
        assert tab.answer(start)[1] == "done"
        assert all(s["state"] != "queued" for s in tab.since(start, "status"))


@pytest.mark.parametrize("shown", [None, 2])
def test_stop_keeps_what_was_shown_and_hangs_up_upstream(
        chat: ChatApp, fake_llm: FakeLLM, shown: int | None) -> None:
    reply = fake_llm.reply("Go on", Reply(TOKENS, pauses=(4, 5)))
    tab = chat.tab()
    start = tab.send("Go on")
    tab.wait("token", since=start, where=lambda t: t["text"] == TOKENS[3])
    tab.emit("stop", {} if shown is None else {"shown": shown})
    _, event, done = tab.answer(start)
    kept = "".join(TOKENS[: shown or 4])

    assert event == "done" and done["stopped"] is True, done
    assert done["usage"]["completion_tokens"] == (shown or 4)
    # The next token reaches a worker that has stopped listening: it hangs up.
    reply.proceed()
    call = fake_llm.call("Go on")
    assert call.hung_up.wait(WAIT_S), "the upstream stream was left open"
    assert call.sent == 5
    last = chat.reload(tab)[-1]
    assert (last["state"], last["content"]) == ("stopped", kept)
    assert tab.ask("And now?")[1] == "done", "the conversation goes on"


@pytest.mark.parametrize("interval_ms", [0, 1000])
def test_tokens_arriving_together_go_out_as_fewer_events(
        make_chat: Callable[..., ChatApp], fake_llm: FakeLLM, interval_ms: int) -> None:
    many = [f" w{i}" for i in range(60)]
    fake_llm.reply("Count", Reply(many))
    chat = make_chat(stream_interval_ms=interval_ms)
    tab = chat.tab()
    text, event, done = tab.ask("Count")
    pieces = [t["text"] for t in tab.since(0, "token")]

    assert event == "done" and done["usage"]["completion_tokens"] == len(many)
    assert text == "".join(many), "coalescing loses or reorders nothing"
    assert chat.reload(tab)[-1]["content"] == text
    if interval_ms == 0:
        assert pieces == many
    else:  # the first at once, then whatever arrived within the interval as one event
        assert pieces[0] == many[0] and len(pieces) < len(many)


@pytest.mark.parametrize(("reply", "expected"), [
    (Reply([], status=500), "answered with an error (500)"),
    (Reply([], status=503), "still loading"),
    (Reply([], status=429), "busy"),
    (Reply(["Half", " an", " answer"], ending="drop"), "not reachable"),
    (Reply(["Half", " an", " answer"], ending="garbage"), "malformed stream"),
    (Reply(["Half", " an", " answer"], ending="error"), "failed mid-answer: the engine crashed"),
])
def test_upstream_failures_give_a_clear_error_and_lose_nothing(
        chat: ChatApp, fake_llm: FakeLLM, reply: Reply, expected: str) -> None:
    fake_llm.reply("Will it work?", reply)
    tab = chat.tab()
    text, event, error = tab.ask("Will it work?")
    assert event == "error" and expected in error["message"], error
    assert "Traceback" not in error["message"]
    assert [(m["role"], m["content"], m.get("state", "done")) for m in chat.reload(tab)] == [
        ("user", "Will it work?", "done"), ("assistant", text, "error")]
    assert text == "".join(reply.tokens), "the pieces before the failure are kept"
    assert tab.ask("And now?")[1] == "done", "the next message is answered"


def test_an_upstream_that_goes_silent_times_out(make_chat: Callable[..., ChatApp],
                                                fake_llm: FakeLLM) -> None:
    fake_llm.reply("Hello?", Reply(["Partial"], pauses=(1,)))
    # The model is named: a slow model listing is then no failure, only the silence is.
    chat = make_chat(llm_read_timeout=1, llm_model=MODEL)
    tab = chat.tab()
    text, event, error = tab.ask("Hello?")
    assert event == "error" and "did not answer within 1 s" in error["message"]
    assert fake_llm.call("Hello?").hung_up.wait(WAIT_S), "the silent stream was left open"
    last = chat.reload(tab)[-1]
    assert (last["content"], last["state"]) == ("Partial", "error") and text == "Partial"


def test_an_unreachable_server_is_said_so(make_chat: Callable[..., ChatApp]) -> None:
    chat = make_chat(llm_url=f"http://127.0.0.1:{free_port()}")
    tab = chat.tab()
    _, event, error = tab.ask("Anyone there?")
    assert event == "error" and "not reachable" in error["message"]
    assert [(m["role"], m.get("state", "done")) for m in chat.reload(tab)] == \
        [("user", "done"), ("assistant", "error")]


def test_two_clients_never_see_each_others_tokens(chat: ChatApp, fake_llm: FakeLLM) -> None:
    replies = {q: fake_llm.reply(q, Reply([f" {q}-{i}" for i in range(6)], pauses=(1, 3)))
               for q in ("alpha", "beta")}
    tabs = {q: chat.tab() for q in replies}
    starts = {q: tabs[q].send(q) for q in replies}
    for q in replies:  # both streaming at once, interleaved
        tabs[q].wait("token", since=starts[q])
    for _ in range(2):
        for reply in replies.values():
            reply.proceed()
    for q, tab in tabs.items():
        text, event, _ = tab.answer(starts[q])
        assert event == "done"
        assert text == "".join(f" {q}-{i}" for i in range(6))
        assert all(t["text"].startswith(f" {q}-") for t in tab.since(0, "token"))


def test_a_tab_opened_mid_answer_gets_every_piece_exactly_once(
        chat: ChatApp, fake_llm: FakeLLM) -> None:
    reply = fake_llm.reply("Stream it", Reply(TOKENS, pauses=(3,)))
    first = chat.tab()
    start = first.send("Stream it")
    first.wait("token", since=start, where=lambda t: t["text"] == TOKENS[2])
    second = chat.tab(first.browser)
    partial = second.history()["streaming"]
    reply.proceed()
    full, _, _ = first.answer(start)
    second.wait("done")
    later = "".join(t["text"] for t in second.since(0, "token"))
    assert partial == {"text": "".join(TOKENS[:3]), "user": "Stream it"}
    assert partial["text"] + later == full == "".join(TOKENS)
