"""Faults of the chatbot's own process and of its disk: killed with SIGKILL in the middle of
an answer and started again (every finished turn is still there, and the open page
reconnects by itself and shows them, without a reload), and a database that cannot grow
(SQLite's "database or disk is full"): a readable error, no corrupt database, and the next
message works once there is room again."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import expect

from harness.browser import TIMEOUT, chromium, require_chromium, send
from harness.fake_llm import FakeLLM, Reply
from harness.inprocess import ChatApp
from harness.processes import PROCESSES, chatbot, free_port


@pytest.mark.slow
def test_a_chatbot_killed_mid_answer_loses_no_finished_turn(tmp_path: Path) -> None:
    require_chromium()
    expect.set_options(timeout=TIMEOUT)
    port = free_port()
    with FakeLLM() as fake, chromium() as browser, ExitStack() as server:
        url = server.enter_context(chatbot(fake.url, tmp_path, port=port))
        page = browser.new_page()
        page.goto(url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        page.evaluate("window.notReloaded = true")
        for question in ("first question", "second question"):
            send(page, question)
            expect(page.locator("#messages .msg.assistant").last).to_have_attribute(
                "data-state", "done")
        fake.reply("third question", Reply(["half", " an", " answer"], pauses=(2,)))
        send(page, "third question")
        fake.call("third question")
        expect(page.locator("#messages .msg.assistant").last).to_contain_text("half")
        PROCESSES[url].kill()  # SIGKILL: no chance to finish or flush anything
        server.close()
        expect(page.locator("#connection")).not_to_have_attribute("data-state", "connected")
        with chatbot(fake.url, tmp_path, port=port):
            expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
            users = page.locator("#messages .msg.user")
            expect(users).to_have_text(["first question", "second question", "third question"])
            answers = page.locator("#messages .msg.assistant")
            expect(answers.nth(0)).to_contain_text("first question")
            expect(answers.nth(1)).to_contain_text("second question")
            assert page.evaluate("window.notReloaded") is True
            send(page, "after the restart")
            expect(page.locator("#messages .msg.assistant").last).to_have_attribute(
                "data-state", "done")
    db = sqlite3.connect(tmp_path / "conversations.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_a_full_disk_gives_a_clear_error_and_no_corruption(
        make_chat: Callable[..., ChatApp]) -> None:
    chat = make_chat()
    tab = chat.tab()
    assert tab.ask("before the disk fills")[1] == "done"
    store = chat.app.extensions["chatbot"].store
    pages = store.read("PRAGMA page_count")[0][0]
    store.read(f"PRAGMA max_page_count = {pages}")  # the file may not grow by one page
    name, data = tab.wait("error", "done", since=tab.send("x" * 15000))
    assert name == "error"
    assert "disk is full" in data["message"] and "Traceback" not in data["message"]
    assert store.read("PRAGMA integrity_check")[0][0] == "ok"
    store.read(f"PRAGMA max_page_count = {pages * 100}")
    assert tab.ask("room again")[1] == "done"
    messages = [m["content"] for m in chat.reload(tab)]
    assert "before the disk fills" in messages and "room again" in messages
