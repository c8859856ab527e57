"""Organising the sidebar in a real browser (Debian's Chromium driven by Playwright) against a
real chatbot process answering from the canned LLM server: pinning, a folder made, a
conversation dragged into it and moved out by the keyboard-reachable menu, the folder
collapsed, renamed and deleted (its conversations kept), and the date groups, computed in
the browser's own time zone and clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from harness.browser import TIMEOUT, new_chat, require_chromium, send

expect.set_options(timeout=TIMEOUT)
require_chromium()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """The conftest's, in a time zone where "today" is not UTC's."""
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  timezone_id="America/New_York")
    yield context
    context.close()


def new_conversation(page: Page, question: str) -> str:
    """A new conversation holding `question` and its answer; its id."""
    new_chat(page)
    send(page, question)
    expect(page.locator("#messages .msg.assistant").last).to_have_attribute("data-state", "done")
    active = page.locator("#conversations li.active")
    expect(active).to_contain_text(question)
    return active.get_attribute("data-id") or ""


def answer_prompts(page: Page, text: str) -> None:
    """Accept the next window.prompt with `text` (and any confirm)."""
    def handle(dialog: Dialog) -> None:
        dialog.accept(text if dialog.type == "prompt" else None)
    page.once("dialog", handle)


def row(page: Page, conversation: str) -> str:
    return f"#conversations li[data-id='{conversation}']"


def test_pin_folders_drag_and_the_menu(page: Page) -> None:
    first = new_conversation(page, "Tell me about otters")
    second = new_conversation(page, "Tell me about badgers")

    # Pin from the ⋯ menu.
    page.locator(f"{row(page, first)} .conv-actions summary").click()
    page.locator(f"{row(page, first)} button.pin").click()
    pinned = page.locator("#conversations section[data-group='pinned']")
    expect(pinned.locator("li")).to_have_count(1)
    expect(pinned.locator(f"li[data-id='{first}']")).to_be_visible()
    expect(page.locator("#conversations section[data-group='pinned']")).to_be_visible()
    groups = page.locator("#conversations section.group")
    expect(groups.first).to_have_attribute("data-group", "pinned")

    # A folder, and the second conversation dragged into it.
    answer_prompts(page, "Animals")
    page.click("#new-folder")
    folder = page.locator("#conversations section.folder")
    expect(folder.locator(".folder-toggle")).to_contain_text("Animals")
    expect(folder.locator(".folder-empty")).to_be_visible()
    page.locator(row(page, second)).drag_to(folder)
    expect(folder.locator(f"li[data-id='{second}']")).to_be_visible()
    expect(page.locator("#conversations section[data-group='today']")).to_have_count(0)
    # Pinned first, then the folder.
    expect(groups).to_have_count(2)
    expect(groups.nth(1)).to_have_attribute("data-group", "folder")

    # Collapsed and opened again (kept in this browser across a reload).
    folder.locator(".folder-toggle").click()
    expect(folder.locator(".folder-toggle")).to_have_attribute("aria-expanded", "false")
    expect(folder.locator("li")).to_have_count(0)
    page.reload()
    folder = page.locator("#conversations section.folder")
    expect(folder.locator(".folder-toggle")).to_have_attribute("aria-expanded", "false")
    folder.locator(".folder-toggle").click()
    expect(folder.locator(f"li[data-id='{second}']")).to_be_visible()

    # The first one moved into the folder with the keyboard, through its menu: it leaves Pinned.
    page.locator(f"{row(page, first)} .conv-actions summary").focus()
    page.keyboard.press("Enter")
    move = page.locator(f"{row(page, first)} select.move-to")
    expect(move).to_be_visible()
    move.focus()
    move.select_option(label="Animals")
    expect(folder.locator("li")).to_have_count(2)
    expect(page.locator("#conversations section[data-group='pinned']")).to_have_count(0)

    # Search still finds conversations inside a folder.
    page.fill("#search", "badgers")
    expect(page.locator(f"#search-results .result[data-conversation='{second}']").first
           ).to_be_visible()
    page.fill("#search", "")
    page.locator("#search").press("Escape")

    # Renamed, then deleted: its conversations stay, under Today.
    folder.locator(".folder-actions summary").click()
    answer_prompts(page, "Mammals")
    folder.locator("button.rename-folder").click()
    expect(folder.locator(".folder-toggle")).to_contain_text("Mammals")
    folder.locator(".folder-actions summary").click()
    answer_prompts(page, "")
    folder.locator("button.delete-folder").click()
    expect(page.locator("#conversations section.folder")).to_have_count(0)
    today = page.locator("#conversations section[data-group='today']")
    expect(today.locator(f"li[data-id='{first}']")).to_be_visible()
    expect(today.locator(f"li[data-id='{second}']")).to_be_visible()

    # Dragged onto a folder's name, then out (anywhere else in the list).
    answer_prompts(page, "Later")
    page.click("#new-folder")
    page.locator(row(page, second)).drag_to(
        page.locator("#conversations section.folder .folder-toggle"))
    expect(page.locator(f"#conversations section.folder li[data-id='{second}']")).to_be_visible()
    page.locator(row(page, second)).drag_to(today)
    expect(today.locator(f"li[data-id='{second}']")).to_be_visible()


def test_date_groups_follow_the_browsers_clock(page: Page) -> None:
    conversation = new_conversation(page, "What day is it?")
    item = f"li[data-id='{conversation}']"
    expect(page.locator(f"#conversations section[data-group='today'] {item}")).to_be_visible()
    expect(page.locator("#conversations section[data-group='today'] .group-head")).to_have_text(
        "Today")
    for days, group, heading in ((1, "yesterday", "Yesterday"), (4, "week", "Previous 7 days"),
                                 (20, "month", "Previous 30 days"), (60, "older", "Older")):
        page.clock.set_fixed_time(datetime.now() + timedelta(days=days, hours=1))
        page.reload()
        section = page.locator(f"#conversations section[data-group='{group}']")
        expect(section.locator(item)).to_be_visible()
        expect(section.locator(".group-head")).to_have_text(heading)


def test_date_groups_count_local_calendar_days(page: Page) -> None:
    # New York: 2026-03-08 is the day clocks go forward (23 hours long).
    groups = page.evaluate("""async () => {
        const { dateGroup } = await import("/static/js/organise/dates.js");
        const now = new Date(2026, 2, 9, 0, 30);  // local time, 00:30
        const at = (...parts) => new Date(...parts).getTime() / 1000;
        return [
            dateGroup(at(2026, 2, 9, 0, 5), now),
            dateGroup(at(2026, 2, 8, 23, 50), now),
            dateGroup(at(2026, 2, 7, 12, 0), now),
            dateGroup(at(2026, 2, 2, 0, 0), now),
            dateGroup(at(2026, 2, 1, 23, 59), now),
            dateGroup(at(2026, 1, 7, 12, 0), now),
            dateGroup(at(2026, 1, 6, 12, 0), now),
        ];
    }""")
    assert groups == ["today", "yesterday", "week", "week", "month", "month", "older"]
