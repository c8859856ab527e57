"""Sharing a conversation by a read-only link, in-process: the link shows a copy made when it
was shared (later messages never reach it; sources kept, their passages not), rendered as
text under the page's CSP; the owner lists and revokes links, a revoked or unknown link is
404, deleting the conversation revokes its links; another owner's tokens are unknown ones.
With accounts on, only signed-in users of the instance may open a link."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from harness.inprocess import ORIGIN, ChatApp, Tab

PASSWORD = "correct horse battery"
HOSTILE = ('<script>alert("x")</script><img src=x onerror=alert(1)> '
           '[click](javascript:alert(1)) </textarea></div>')


def share(tab: Tab, conversation: str) -> dict[str, Any]:
    return tab.wait("share_created", since=tab.emit("share", {"id": conversation}))[1]


def current(tab: Tab) -> str:
    return tab.history()["conversation"]["id"]


def imported(browser: FlaskClient, messages: list[dict[str, Any]]) -> str:
    """A conversation of the browser's, imported with `messages` as they are."""
    response = browser.post("/conversations/import", headers={"Origin": ORIGIN},
                            data=json.dumps({"title": "Imported", "messages": messages}),
                            content_type="application/json")
    assert response.status_code == 201, response.text
    return response.json["id"]


def test_a_link_shows_the_conversation_as_it_was_when_shared(chat: ChatApp) -> None:
    owner = chat.tab()
    owner.ask("What is a quokka?")
    created = share(owner, current(owner))
    assert created["url"] == f"/shared/{created['token']}" and len(created["token"]) >= 40
    assert created["messages"] == 2 and created["title"] == "What is a quokka?"
    owner.ask("A later secret question")

    anyone = chat.app.test_client()  # accounts off: whoever reaches the page
    page = anyone.get(created["url"])
    assert page.status_code == 200
    assert "What is a quokka?" in page.text and "You said: What is a quokka?" in page.text
    assert "later secret" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "no-store" in page.headers["cache-control"]
    assert "/static/js/shared.js" in page.text and "socket.io" not in page.text
    # A second link is a second, newer copy; each stays as it was.
    again = share(owner, current(owner))
    assert again["token"] != created["token"]
    assert "later secret" in anyone.get(again["url"]).text
    assert "later secret" not in anyone.get(created["url"]).text


def test_sources_are_kept_and_hostile_content_is_text(chat: ChatApp) -> None:
    owner = chat.tab()
    conversation = imported(owner.browser, [
        {"role": "user", "content": HOSTILE},
        {"role": "assistant", "content": f"Answer [1] {HOSTILE}", "sources": [
            {"n": 1, "title": "<b>Lighthouse</b>", "url": "https://example.org/light",
             "page": 3, "passage": "A PRIVATE PASSAGE", "cited": True},
            {"n": 2, "title": "Sneaky", "url": "javascript:alert(1)"}]}])
    page = chat.app.test_client().get(share(owner, conversation)["url"]).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert 'href="https://example.org/light"' in page and "&lt;b&gt;Lighthouse" in page
    assert "javascript:" not in page.replace("(javascript:alert(1))", "")
    assert "A PRIVATE PASSAGE" not in page


def test_the_owner_lists_and_revokes_links(chat: ChatApp) -> None:
    owner = chat.tab()
    other_tab = chat.tab(owner.browser)
    owner.ask("Share me")
    link = share(owner, current(owner))
    listing = owner.wait("shares", since=owner.emit("shares", {}))[1]["shares"]
    assert [(s["token"], s["conversation"], s["title"]) for s in listing] == [
        (link["token"], current(owner), "Share me")]
    viewer = chat.app.test_client()
    assert viewer.get(link["url"]).status_code == 200

    start = other_tab.mark()
    owner.emit("revoke_share", {"token": link["token"]})
    assert other_tab.wait("shares", since=start)[1]["shares"] == []
    assert viewer.get(link["url"]).status_code == 404
    assert owner.refused("revoke_share", {"token": link["token"]}) == "That link no longer exists."


def test_deleting_the_conversation_revokes_its_links(chat: ChatApp) -> None:
    owner = chat.tab()
    owner.ask("Short-lived")
    conversation = current(owner)
    link = share(owner, conversation)
    owner.wait("history", since=owner.emit("delete", {"id": conversation}))
    assert chat.app.test_client().get(link["url"]).status_code == 404
    assert owner.wait("shares", since=owner.emit("shares", {}))[1]["shares"] == []


@pytest.mark.parametrize(("event", "payload", "expected"), [
    ("share", {"id": 5}, "`id` must be a string"),
    ("share", {"id": "nope"}, "That conversation no longer exists."),
    ("share", {"id": "EMPTY"}, "nothing to share yet"),
    ("revoke_share", {"token": ["x"]}, "`token` must be a string"),
    ("revoke_share", {}, "`token` must be a string"),
    ("revoke_share", {"token": "nope"}, "That link no longer exists."),
])
def test_bad_input_is_refused_and_changes_nothing(chat: ChatApp, event: str,
                                                  payload: dict[str, Any], expected: str
                                                  ) -> None:
    tab = chat.tab()
    tab.ask("Already shared")
    link = share(tab, current(tab))
    empty = tab.wait("history", since=tab.emit("reset", {}))[1]["conversation"]["id"]
    payload = {k: empty if v == "EMPTY" else v for k, v in payload.items()}
    start = tab.emit(event, payload)
    assert expected in tab.wait("error", since=start)[1]["message"]
    assert tab.since(start, "share_created") == []
    assert [s["token"] for s in tab.wait("shares", since=tab.emit("shares", {}))[1][
        "shares"]] == [link["token"]]


def test_unknown_tokens_are_404(chat: ChatApp) -> None:
    browser = chat.browser()
    for token in ("nope", "x" * 10_000, "..%2F..%2Fconversations.sqlite3", "%00"):
        assert browser.get(f"/shared/{token}").status_code == 404, token


def test_another_owners_links_are_unknown_ones(chat: ChatApp) -> None:
    owner = chat.tab()
    owner.ask("Mine alone")
    link = share(owner, current(owner))
    stranger = chat.tab()
    assert stranger.refused("revoke_share", {"token": link["token"]}) == (
        "That link no longer exists.")
    assert stranger.refused("share", {"id": current(owner)}) == (
        "That conversation no longer exists.")
    assert stranger.wait("shares", since=stranger.emit("shares", {}))[1]["shares"] == []
    assert stranger.browser.get(link["url"]).status_code == 200  # a link is for anyone


def test_with_accounts_only_signed_in_users_open_a_link(make_chat: Callable[..., ChatApp]
                                                         ) -> None:
    app = make_chat(auth=True)
    accounts = app.app.extensions["chatbot"].accounts
    accounts.add("alice", PASSWORD)
    accounts.add("bob", PASSWORD)
    alice = app.tab(app.signed_in("alice", PASSWORD))
    alice.ask("For the team")
    link = share(alice, current(alice))

    bob_browser = app.signed_in("bob", PASSWORD)
    assert "For the team" in bob_browser.get(link["url"]).text
    bob = app.tab(bob_browser)
    assert bob.refused("revoke_share", {"token": link["token"]}) == "That link no longer exists."
    assert bob.wait("shares", since=bob.emit("shares", {}))[1]["shares"] == []

    stranger = app.app.test_client()
    for url in (link["url"], "/shared/nope"):  # the same answer: nothing told
        response = stranger.get(url)
        assert response.status_code == 302 and response.headers["location"].endswith("/login")
    alice.emit("revoke_share", {"token": link["token"]})
    alice.wait("shares", where=lambda d: d["shares"] == [])
    assert bob_browser.get(link["url"]).status_code == 404
