"""Organising the sidebar over Socket.IO, in-process: pins, folders (create, rename, delete,
move into and out of), the `conversations` listing that carries them to every tab of the
owner, another owner's ids answered as unknown ones, and bad input refused, changing
nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.inprocess import ChatApp, Tab


def listing_after(tab: Tab, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The `conversations` listing that answers `event`."""
    return tab.wait("conversations", since=tab.emit(event, payload))[1]


def entry(listing: dict[str, Any], conversation: str) -> dict[str, Any]:
    return next(c for c in listing["conversations"] if c["id"] == conversation)


def folder_named(listing: dict[str, Any], name: str) -> str:
    return next(f["id"] for f in listing["folders"] if f["name"] == name)


def conversation_of(tab: Tab, question: str) -> str:
    """A new conversation of the tab's owner holding one question and its answer."""
    conversation = tab.wait("history", since=tab.emit("reset", {}))[1]["conversation"]["id"]
    tab.ask(question)
    return conversation


def test_listing_carries_pin_folder_last_activity_and_folders(chat: ChatApp) -> None:
    tab = chat.tab()
    first = conversation_of(tab, "First question")
    second = conversation_of(tab, "Second question")
    listing = listing_after(tab, "pin", {"id": first, "pinned": True})
    assert entry(listing, first)["pinned"] is True and entry(listing, first)["folder"] is None
    assert entry(listing, second)["pinned"] is False
    assert entry(listing, first)["updated"] < entry(listing, second)["updated"]
    assert listing["folders"] == []
    # Pinning is not activity: the order (newest activity first) stays.
    assert [c["id"] for c in listing["conversations"]][:2] == [second, first]
    assert entry(listing_after(tab, "pin", {"id": first, "pinned": False}), first)[
        "pinned"] is False


def test_folders_are_created_renamed_moved_into_and_deleted_in_every_tab(chat: ChatApp
                                                                         ) -> None:
    tab = chat.tab()
    other_tab = chat.tab(tab.browser)
    first = conversation_of(tab, "First question")
    second = conversation_of(tab, "Second question")

    start = other_tab.mark()
    listing = listing_after(tab, "create_folder", {"name": "  Work   stuff "})
    work = folder_named(listing, "Work stuff")
    assert other_tab.wait("conversations", since=start)[1]["folders"] == listing["folders"]
    listing = listing_after(tab, "create_folder", {"name": "Home", "conversation": second})
    home = folder_named(listing, "Home")
    assert entry(listing, second)["folder"] == home
    assert [f["name"] for f in listing["folders"]] == ["Home", "Work stuff"]

    listing = listing_after(tab, "move_to_folder", {"id": first, "folder": work})
    assert entry(listing, first)["folder"] == work
    listing = listing_after(tab, "move_to_folder", {"id": second, "folder": None})
    assert entry(listing, second)["folder"] is None
    listing = listing_after(tab, "rename_folder", {"id": work, "name": "Job"})
    assert {f["id"]: f["name"] for f in listing["folders"]} == {work: "Job", home: "Home"}

    # Deleting a folder keeps its conversations, out of any folder.
    listing = listing_after(tab, "delete_folder", {"id": work})
    assert [f["id"] for f in listing["folders"]] == [home]
    assert entry(listing, first)["folder"] is None
    assert [m["content"] for m in chat.tab(tab.browser).history()["messages"]]
    # What a reload shows.
    reloaded = chat.tab(tab.browser).wait("conversations")[1]
    assert reloaded["folders"] == [{"id": home, "name": "Home"}]
    assert {c["id"] for c in reloaded["conversations"]} >= {first, second}


def test_a_folder_name_is_unique_per_owner_whatever_its_case(chat: ChatApp) -> None:
    tab = chat.tab()
    listing = listing_after(tab, "create_folder", {"name": "Recipes"})
    assert "already have a folder named “recipes”" in tab.refused(
        "create_folder", {"name": "recipes"})
    listing = listing_after(tab, "create_folder", {"name": "Travel"})
    travel = folder_named(listing, "Travel")
    assert "already have a folder" in tab.refused("rename_folder", {"id": travel,
                                                                    "name": "RECIPES"})
    # Renaming to its own name in another case is no clash; another owner's names neither.
    assert folder_named(listing_after(tab, "rename_folder", {"id": travel, "name": "TRAVEL"}),
                        "TRAVEL") == travel
    assert folder_named(listing_after(chat.tab(), "create_folder", {"name": "Recipes"}),
                        "Recipes")


@pytest.mark.parametrize(("event", "payload", "expected"), [
    ("pin", {"id": 7, "pinned": True}, "`id` must be a string"),
    ("pin", {"id": "nope", "pinned": True}, "That conversation no longer exists."),
    ("pin", {"id": "CURRENT", "pinned": "yes"}, "`pinned` must be true or false"),
    ("pin", {"id": "CURRENT"}, "`pinned` must be true or false"),
    ("create_folder", {}, "`name` must be a string"),
    ("create_folder", {"name": ["a"]}, "`name` must be a string"),
    ("create_folder", {"name": " \n\t "}, "A folder needs a name."),
    ("create_folder", {"name": "x" * 100_000}, "at most 60 characters"),
    ("create_folder", {"name": "Fine", "conversation": "nope"}, "no longer exists"),
    ("create_folder", {"name": "Fine", "conversation": 3}, "`conversation` must be a string"),
    ("rename_folder", {"id": "nope", "name": "x"}, "That folder no longer exists."),
    ("rename_folder", {"id": None, "name": "x"}, "must be a folder's id"),
    ("rename_folder", {"id": "FOLDER", "name": ""}, "A folder needs a name."),
    ("rename_folder", {"id": "FOLDER", "name": "y" * 61}, "at most 60 characters"),
    ("delete_folder", {"id": "nope"}, "That folder no longer exists."),
    ("delete_folder", {"id": {"$ne": 1}}, "must be a folder's id"),
    ("move_to_folder", {"id": "CURRENT", "folder": "nope"}, "That folder no longer exists."),
    ("move_to_folder", {"id": "CURRENT", "folder": 1}, "`folder` must be a folder's id"),
    ("move_to_folder", {"id": "nope", "folder": "FOLDER"}, "no longer exists"),
    ("move_to_folder", "not an object", "expected a JSON object"),
])
def test_bad_input_is_refused_and_changes_nothing(chat: ChatApp, event: str, payload: Any,
                                                  expected: str) -> None:
    tab = chat.tab()
    current = conversation_of(tab, "Keep me")
    folder = folder_named(listing_after(tab, "create_folder", {"name": "Kept"}), "Kept")
    before = listing_after(tab, "reset", {})
    if isinstance(payload, dict):
        payload = {k: {"CURRENT": current, "FOLDER": folder}.get(v, v)
                   if isinstance(v, str) else v for k, v in payload.items()}
    start = tab.emit(event, payload)
    assert expected in tab.wait("error", since=start)[1]["message"]
    assert tab.since(start, "conversations") == []
    assert listing_after(tab, "reset", {}) == before


def test_too_many_folders_are_refused(chat: ChatApp) -> None:
    tab = chat.tab()
    for n in range(50):
        tab.emit("create_folder", {"name": f"Folder {n}"})
    tab.wait("conversations", where=lambda d: len(d["folders"]) == 50)
    assert "50 folders, the most there can be" in tab.refused("create_folder",
                                                               {"name": "One more"})
    assert len(listing_after(tab, "reset", {})["folders"]) == 50


def test_another_owners_folders_and_conversations_are_unknown_ones(chat: ChatApp) -> None:
    owner = chat.tab()
    theirs = conversation_of(owner, "A private question")
    folder = folder_named(listing_after(owner, "create_folder", {"name": "Secret"}), "Secret")
    stranger = chat.tab()
    mine = stranger.history()["conversation"]["id"]
    mine_folder = folder_named(listing_after(stranger, "create_folder", {"name": "Mine"}),
                               "Mine")
    for event, payload, words in (
            ("pin", {"id": theirs, "pinned": True}, "That conversation no longer exists."),
            ("move_to_folder", {"id": theirs, "folder": None},
             "That conversation no longer exists."),
            ("move_to_folder", {"id": theirs, "folder": mine_folder},
             "That conversation no longer exists."),
            ("move_to_folder", {"id": mine, "folder": folder}, "That folder no longer exists."),
            ("create_folder", {"name": "x", "conversation": theirs},
             "That conversation no longer exists."),
            ("rename_folder", {"id": folder, "name": "Mine now"},
             "That folder no longer exists."),
            ("delete_folder", {"id": folder}, "That folder no longer exists.")):
        assert stranger.refused(event, payload) == words, event
    seen = listing_after(stranger, "reset", {})
    assert [f["name"] for f in seen["folders"]] == ["Mine"]
    assert theirs not in {c["id"] for c in seen["conversations"]}
    kept = chat.tab(owner.browser).wait("conversations")[1]
    assert kept["folders"] == [{"id": folder, "name": "Secret"}]
    assert entry(kept, theirs)["pinned"] is False and entry(kept, theirs)["folder"] is None


def test_with_accounts_a_users_folders_follow_them_and_no_one_else(
        make_chat: Callable[..., ChatApp]) -> None:
    app = make_chat(auth=True)
    accounts = app.app.extensions["chatbot"].accounts
    accounts.add("alice", "correct horse battery")
    accounts.add("bob", "correct horse battery")
    alice = app.tab(app.signed_in("alice", "correct horse battery"))
    theirs = conversation_of(alice, "Alice's question")
    folder = folder_named(listing_after(alice, "create_folder", {"name": "Plans",
                                                                 "conversation": theirs}),
                          "Plans")
    listing_after(alice, "pin", {"id": theirs, "pinned": True})
    # Another browser of Alice's sees the same; Bob sees none of it and can change none of it.
    again = app.tab(app.signed_in("alice", "correct horse battery")).wait("conversations")[1]
    assert again["folders"] == [{"id": folder, "name": "Plans"}]
    assert entry(again, theirs)["pinned"] is True and entry(again, theirs)["folder"] == folder
    bob = app.tab(app.signed_in("bob", "correct horse battery"))
    assert bob.wait("conversations")[1]["folders"] == []
    assert bob.refused("delete_folder", {"id": folder}) == "That folder no longer exists."
    assert bob.refused("pin", {"id": theirs, "pinned": False}) == (
        "That conversation no longer exists.")
    assert entry(app.tab(alice.browser).wait("conversations")[1], theirs)["pinned"] is True


def test_search_finds_conversations_in_folders_and_pinned(chat: ChatApp) -> None:
    tab = chat.tab()
    pinned = conversation_of(tab, "Quokka habits")
    filed = conversation_of(tab, "Quokka diet")
    listing_after(tab, "pin", {"id": pinned, "pinned": True})
    listing_after(tab, "create_folder", {"name": "Animals", "conversation": filed})
    results = tab.wait("search_results", since=tab.emit("search", {"q": "quokka"}))[1]
    assert {r["conversation"] for r in results["results"]} == {pinned, filed}


def test_the_strings_of_organising_and_sharing_are_in_the_catalog() -> None:
    root = Path(__file__).resolve().parents[2]
    catalog = json.loads((root / "chatbot/web/catalog/en.json").read_text(encoding="utf-8"))
    sources = [*sorted((root / "static/js/organise").glob("*.js")),
               root / "static/js/sharing.js", root / "templates/index.html",
               root / "templates/shared.html"]
    used = {key for path in sources for key in re.findall(
        r"""\bt\(\s*["']((?:organise|share)\.[a-z_]+)["']\s*[,)]""", path.read_text())}
    # Keys made from a value: the date groups, the states of a stored answer.
    used |= {f"organise.{group}" for group in ("today", "yesterday", "week", "month", "older")}
    used |= {"share.state_stopped", "share.state_error"}
    assert len(used) > 30 and sorted(used - catalog.keys()) == []
