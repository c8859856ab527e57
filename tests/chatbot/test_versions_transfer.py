"""A conversation with versions exported as JSON and imported again: the tree (`id`,
`parent`, `chosen`) survives the round trip; an export from before versions imports as one
path; a malformed tree is refused, importing nothing."""

from __future__ import annotations

import json

import pytest

from harness.fake_llm import FakeLLM, Reply
from harness.inprocess import ORIGIN, ChatApp, Tab


def export(tab: Tab, conversation: str, fmt: str = "json") -> str:
    response = tab.browser.get(f"/conversations/{conversation}/export.{fmt}")
    assert response.status_code == 200
    return response.text


def post_import(tab: Tab, data: dict):  # noqa: ANN201
    return tab.browser.post("/conversations/import", headers={"Origin": ORIGIN},
                            data=json.dumps(data), content_type="application/json")


def shape(exported: dict) -> list[tuple]:
    """The tree by place: (role, content, parent's place, chosen) per message."""
    place = {m["id"]: n for n, m in enumerate(exported["messages"])}
    return [(m["role"], m["content"], place.get(m["parent"]), m["chosen"])
            for m in exported["messages"]]


def test_the_tree_survives_an_export_and_an_import(chat: ChatApp, fake_llm: FakeLLM) -> None:
    tab = chat.tab()
    tab.ask("Kites?")
    fake_llm.reply("Kites?", Reply(["They", " fly"]))
    tab.answer(tab.emit("regenerate", {}))
    first = chat.reload(tab)[0]["id"]
    tab.answer(tab.emit("edit", {"id": first, "text": "Birds?"}))
    conversation = chat.tab(tab.browser).history()["conversation"]["id"]
    original = json.loads(export(tab, conversation))
    assert shape(original) == [
        ("user", "Kites?", None, False), ("assistant", "You said: Kites?", 0, False),
        ("assistant", "They fly", 0, True), ("user", "Birds?", None, True),
        ("assistant", "You said: Birds?", 3, True)]
    # The Markdown export holds the path shown.
    markdown = export(tab, conversation, "md")
    assert "Birds?" in markdown and "Kites?" not in markdown

    response = post_import(tab, original)
    assert response.status_code == 201, response.text
    again = json.loads(export(tab, response.json["id"]))
    assert shape(again) == shape(original)
    tab.wait("history", since=tab.emit("switch", {"id": response.json["id"]}))
    shown = chat.reload(tab)
    assert [m["content"] for m in shown] == ["Birds?", "You said: Birds?"]
    assert len(shown[0]["siblings"]) == 2
    # The other version, with its chosen answer, is one choice away.
    tab.wait("history", since=tab.emit("choose_version", {"id": shown[0]["siblings"][0]}))
    assert [m["content"] for m in chat.reload(tab)] == ["Kites?", "They fly"]


def test_an_export_from_before_versions_imports_as_one_path(chat: ChatApp) -> None:
    tab = chat.tab()
    old = {"title": "Linear", "messages": [
        {"role": "user", "content": "One"}, {"role": "assistant", "content": "Two"},
        {"role": "user", "content": "Three"}, {"role": "assistant", "content": "Four",
                                               "state": "stopped"}]}
    response = post_import(tab, old)
    assert response.status_code == 201, response.text
    tab.wait("history", since=tab.emit("switch", {"id": response.json["id"]}))
    shown = chat.reload(tab)
    assert [m["content"] for m in shown] == ["One", "Two", "Three", "Four"]
    assert [m["parent"] for m in shown] == [None] + [m["id"] for m in shown[:-1]]


@pytest.mark.parametrize(("messages", "expected"), [
    ([{"id": 1, "role": "user", "content": "a"},
      {"id": 1, "parent": 1, "role": "assistant", "content": "b"}], "Message 2: `id`"),
    ([{"id": "x", "role": "user", "content": "a"}], "Message 1: `id`"),
    ([{"id": 1, "parent": 2, "role": "user", "content": "a"},
      {"id": 2, "role": "assistant", "content": "b"}], "Message 1: `parent`"),
    ([{"id": 1, "parent": 1, "role": "user", "content": "a"}], "Message 1: `parent`"),
    ([{"id": 1, "role": "user", "content": "a", "chosen": "yes"}], "Message 1: `chosen`"),
    ([{"id": True, "role": "user", "content": "a"}], "Message 1: `id`"),
])
def test_a_malformed_tree_is_refused_and_imports_nothing(
        chat: ChatApp, messages: list[dict], expected: str) -> None:
    tab = chat.tab()
    response = post_import(tab, {"title": "Malformed", "messages": messages})
    assert response.status_code == 400 and expected in response.json["error"]
    found = tab.wait("search_results", since=tab.emit("search", {"q": "Malformed"}))[1]
    assert found["results"] == []
