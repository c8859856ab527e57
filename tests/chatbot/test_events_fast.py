"""Socket events and HTTP routes around the answer, in-process against a fake LLM server:
payload validation, conversations (reset, switch, rename, delete, export), the page,
health and metrics, and what survives a restart."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from harness.fake_llm import FakeLLM
from harness.inprocess import ChatApp
from harness.processes import free_port


@pytest.mark.parametrize(("event", "payload", "expected"), [
    ("message", {}, "`text` must be a string"),
    ("message", {"text": 42}, "`text` must be a string"),
    ("message", {"text": ["a"]}, "`text` must be a string"),
    ("message", {"text": "   "}, "Empty message"),
    ("message", {"text": "x" * 1_000_000}, "Message too long"),
    ("message", "just a string", "expected a JSON object"),
    ("message", [1, 2], "expected a JSON object"),
    ("stop", {"shown": -1}, "`shown` must be a non-negative integer"),
    ("stop", {"shown": "all"}, "`shown` must be a non-negative integer"),
    ("switch", {"id": "not-mine"}, "no longer exists"),
    ("switch", {"id": 7}, "`id` must be a string"),
    ("rename", {"id": "x", "title": "t"}, "no longer exists"),
    ("settings", {"temperature": "hot"}, "Invalid settings"),
    ("settings", {"colour": "blue"}, "Invalid settings"),
    ("settings", "warm", "expected a JSON object"),
])
def test_malformed_payloads_get_an_error_and_the_connection_lives_on(
        chat: ChatApp, fake_llm: FakeLLM, event: str, payload: object, expected: str) -> None:
    tab = chat.tab()
    start = tab.emit(event, payload)
    assert expected in tab.wait("error", since=start)[1]["message"]
    assert not tab.since(start, "token") and fake_llm.calls == []
    assert "/reset" in tab.wait("notice", since=tab.send("/help"))[1]["text"]
    assert tab.ask("Still there?")[1] == "done"


def test_a_socket_without_the_page_cookie_is_refused(chat: ChatApp) -> None:
    assert not chat.tab(chat.app.test_client()).connected
    assert chat.tab().connected


def test_reset_switch_rename_delete_and_export(chat: ChatApp) -> None:
    tab = chat.tab()
    tab.ask("First conversation question")
    first_id = tab.history()["conversation"]["id"]

    new = tab.wait("history", since=tab.send("/reset"))[1]
    assert new["messages"] == [] and new["conversation"]["id"] != first_id
    back = tab.wait("history", since=tab.emit("switch", {"id": first_id}))[1]
    assert back["messages"][0]["content"] == "First conversation question"

    start = tab.emit("rename", {"id": first_id, "title": "Renamed chat"})
    listing = tab.wait("conversations", since=start, where=lambda d: any(
        c["title"] == "Renamed chat" for c in d["conversations"]))[1]["conversations"]
    assert sorted(c["title"] for c in listing) == ["New chat", "Renamed chat"]

    md = tab.browser.get(f"/conversations/{first_id}/export.md")
    assert md.status_code == 200 and "# Renamed chat" in md.text
    assert "attachment" in md.headers["content-disposition"]
    exported = json.loads(tab.browser.get(f"/conversations/{first_id}/export.json").text)
    assert exported["messages"][0]["content"] == "First conversation question"
    another_browser = chat.browser()
    assert another_browser.get(f"/conversations/{first_id}/export.md").status_code == 404

    start = tab.emit("delete", {"id": first_id})
    assert tab.wait("history", since=start)[1]["conversation"]["id"] != first_id
    tab.wait("conversations", since=start, where=lambda d: first_id not in {
        c["id"] for c in d["conversations"]})
    assert tab.browser.get(f"/conversations/{first_id}/export.md").status_code == 404


def test_another_browsers_conversation_is_absent_to_this_one(chat: ChatApp) -> None:
    # Without accounts each browser (cookie) owns its conversations: another's id, known or
    # guessed, reads, changes and deletes nothing. Ids are 128-bit random, not counters.
    owner = chat.tab()
    owner.ask("A private question")
    theirs = owner.history()["conversation"]["id"]
    assert len(theirs) == 32 and int(theirs, 16) != 0
    stranger = chat.tab()
    for event, payload in (("switch", {"id": theirs}), ("rename", {"id": theirs, "title": "x"}),
                           ("delete", {"id": theirs})):
        start = stranger.emit(event, payload)
        assert "no longer exists" in stranger.wait("error", since=start)[1]["message"], event
    for path in (f"/conversations/{theirs}/export.json", f"/conversations/{theirs}/export.md"):
        assert stranger.browser.get(path).status_code == 404
    assert stranger.history()["messages"] == []
    assert stranger.wait("search_results", since=stranger.emit("search", {"q": "private"}))[1][
        "results"] == []
    kept = chat.tab(owner.browser).history()
    assert kept["conversation"]["id"] == theirs and kept["conversation"]["title"] != "x"
    assert [m["content"] for m in kept["messages"]][0] == "A private question"


def test_one_address_may_hold_only_so_many_sockets(make_chat: Callable[..., ChatApp]) -> None:
    # Every in-process browser comes from 127.0.0.1: one address, several browsers.
    chat = make_chat(max_sockets_per_address=3)
    tabs = [chat.tab() for _ in range(3)]
    assert all(t.connected for t in tabs)
    assert not chat.tab().connected
    tabs[0].close()
    assert chat.tab().connected  # a closed tab frees its place
    assert "chatbot_refused_connections_total 1.0" in chat.app.test_client().get(
        "/metrics").text
    unlimited = make_chat(max_sockets_per_address=0)
    assert all(unlimited.tab().connected for _ in range(5))


def test_settings_reach_every_tab_of_the_conversation(chat: ChatApp) -> None:
    first = chat.tab()
    second = chat.tab(first.browser)
    start = second.mark()
    first.emit("settings", {"temperature": 0.1})
    assert second.wait("settings", since=start)[1]["temperature"] == 0.1
    assert chat.tab(first.browser).history()["settings"]["temperature"] == 0.1


def test_page_health_and_metrics(chat: ChatApp, make_chat: Callable[..., ChatApp]) -> None:
    browser = chat.app.test_client()
    page = browser.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert browser.get("/healthz?ready=1").json["llm"] == {"reachable": True}
    chat.tab(browser).ask("Count me")
    metrics = browser.get("/metrics").text
    assert 'chatbot_answers_total{outcome="done"} 1.0' in metrics
    assert "chatbot_time_to_first_token_seconds" in metrics
    for name in ("socket.io.esm.min.js", "marked.esm.js", "purify.es.mjs", "highlight.min.js",
                 "katex.mjs"):
        vendor = browser.get(f"/vendor/{name}")
        assert vendor.status_code == 200 and "javascript" in vendor.headers["content-type"]
    assert browser.get("/vendor/..%2Fpackage.json").status_code == 404
    # KaTeX's fonts, where its CSS looks for them; only they, from their folder.
    assert browser.get("/vendor/fonts/KaTeX_Main-Regular.woff2").status_code == 200
    for other in ("README.md", "..%2Fkatex.mjs", "KaTeX_Main-Regular.woff2.map"):
        assert browser.get(f"/vendor/fonts/{other}").status_code == 404

    down = make_chat(llm_url=f"http://127.0.0.1:{free_port()}").app.test_client()
    assert down.get("/healthz?ready=1").json["llm"]["reachable"] is False


def test_conversations_survive_a_restart(make_chat: Callable[..., ChatApp]) -> None:
    before = make_chat()
    tab = before.tab()
    answer, _, _ = tab.ask("Say hello.")
    cookie = tab.browser.get_cookie("localchat")
    assert cookie is not None

    after = make_chat(data_dir=before.data_dir)
    browser = after.app.test_client()
    browser.set_cookie("localchat", cookie.value)
    messages = after.tab(browser).history()["messages"]
    assert [m["content"] for m in messages] == ["Say hello.", answer]
