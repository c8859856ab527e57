"""Accounts in a real browser (Debian's Chromium driven by Playwright), AUTH=on: a browser
without a session sees only the sign-in page and gets nothing else; signing in, signing out
(every tab of the browser), changing the password (every other browser signed out), and the
per-account sign-in throttle, as a user meets them.

No model is needed to sign in: the chatbot's LLM_BASE_URL is a closed port, so the page and
its socket work and only answering would fail.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import socketio
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    expect,
)

from harness.browser import ARTIFACTS, TIMEOUT, require_chromium, send
from harness.processes import ROOT, chatbot, free_port
from harness.socketclient import ChatClient, signed_in_cookie

PASSWORD = "correct horse battery"
MAX_FAILURES = 3
expect.set_options(timeout=TIMEOUT)
require_chromium()

NewPage = Callable[..., Page]


def add_user(data_dir: Path, name: str, *, admin: bool = False) -> None:
    """`chatbot users add`, as the operator runs it, the password piped in."""
    subprocess.run([sys.executable, "-m", "chatbot", "users", "add", name,
                    *(["--admin"] if admin else [])],
                   env={**os.environ, "DATA_DIR": str(data_dir)}, cwd=ROOT,
                   input=f"{PASSWORD}\n", text=True, capture_output=True, check=True)


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("browser-accounts")
    # One user per test that changes an account's state (password, failures), so that the
    # tests do not depend on each other's order.
    add_user(data_dir, "alice", admin=True)
    add_user(data_dir, "bob")
    add_user(data_dir, "carol")
    with chatbot(f"http://127.0.0.1:{free_port()}", data_dir, AUTH="on",
                 AUTH_MAX_FAILURES=str(MAX_FAILURES)) as url:
        yield url


@pytest.fixture
def new_page(browser: Browser, chat_url: str) -> Iterator[NewPage]:
    """Opens a tab: in `context` (another tab of the same browser), else in a fresh browser
    context of its own (another person's browser). Every tab must run without a script error
    or console error, which includes any breach of the page's strict CSP."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def open_page(context: BrowserContext | None = None) -> Page:
        if context is None:
            context = browser.new_context(base_url=chat_url,
                                          viewport={"width": 1280, "height": 800})
            contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
        page.on("console", lambda m: problems.append(f"{page.url}: {m.text}")
                if m.type == "error" and not refused_sign_in(m) else None)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert problems == [], "a page raised errors or broke its own CSP"


def refused_sign_in(message: ConsoleMessage) -> bool:
    """Chromium's console notice of the sign-in form's own 401 or 429, which the tests
    expect and check."""
    return (message.text.startswith("Failed to load resource")
            and message.location.get("url", "").endswith("/login"))


def at(chat_url: str, path: str) -> re.Pattern[str]:
    """The chatbot's `path`, with or without a query."""
    return re.compile(re.escape(f"{chat_url}{path}") + r"(\?.*)?$")


def sign_in(page: Page, name: str, password: str) -> Response:
    """Fill in and submit the sign-in page; the answer to the form's POST."""
    if not page.url.endswith("/login"):
        page.goto("/login")
    page.fill("#name", name)
    page.fill("#password", password)
    # Until the answer has replaced the page, the old form is still there to be filled.
    with page.expect_navigation(), \
            page.expect_response(lambda r: r.url.endswith("/login")
                                 and r.request.method == "POST") as answer:
        page.click("#sign-in-button")
    return answer.value


def signed_in(page: Page, chat_url: str, name: str) -> None:
    """Sign in as `name` and wait for the chat page's socket."""
    assert sign_in(page, name, PASSWORD).status == 302
    expect(page).to_have_url(at(chat_url, "/"))
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")


def test_without_a_session_only_the_sign_in_page_is_shown(new_page: NewPage,
                                                          chat_url: str) -> None:
    # A real conversation of alice's, and proof that her own session may export it.
    alice = signed_in_cookie(chat_url, "alice", PASSWORD)
    with ChatClient(chat_url, cookie=alice) as client:
        conversation = client.wait("history")[2]["conversation"]["id"]
    own = httpx.get(f"{chat_url}/conversations/{conversation}/export.json",
                    headers={"Cookie": alice}, timeout=10)
    assert own.status_code == 200 and conversation in own.text

    page = new_page()
    response = page.goto("/")
    assert response is not None and response.request.redirected_from is not None
    assert response.request.redirected_from.url == f"{chat_url}/"
    expect(page).to_have_url(at(chat_url, "/login"))
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#messages")).to_have_count(0)
    expect(page.locator("#user-name")).to_have_count(0)

    for path in (f"/conversations/{conversation}/export.json",
                 f"/conversations/{conversation}/export.md",
                 f"/files/{secrets.token_hex(16)}"):
        refused = page.context.request.get(path, max_redirects=0)
        assert refused.status in (401, 404), (path, refused.status)
        assert conversation not in refused.text(), path

    # The browser's own cookies (if it was given any) do not open a socket either.
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    raw = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        raw.connect(chat_url, headers={"Cookie": cookie} if cookie else {},
                    transports=["websocket"], wait_timeout=10)
    assert not raw.connected


def test_a_wrong_password_is_refused_and_the_right_one_opens_the_chat(
        new_page: NewPage, chat_url: str) -> None:
    page = new_page()
    page.goto("/")
    refused = sign_in(page, "alice", "not her password")
    assert refused.status == 401
    expect(page).to_have_url(at(chat_url, "/login"))
    expect(page.locator(".form-error")).to_have_text("Wrong user name or password.")
    expect(page.locator("#name")).to_have_value("alice")
    expect(page.locator("#messages")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sign-in-refused.png"))

    signed_in(page, chat_url, "alice")
    expect(page.locator("#user-name")).to_have_text("alice")
    expect(page.locator("#sign-out")).to_be_visible()
    expect(page.locator("#messages")).to_be_attached()
    page.screenshot(path=str(ARTIFACTS / "signed-in.png"))


def test_signing_out_sends_every_tab_of_the_browser_to_the_sign_in_page(
        new_page: NewPage, chat_url: str) -> None:
    page = new_page()
    signed_in(page, chat_url, "alice")
    other_tab = new_page(page.context)
    other_tab.goto("/")
    expect(other_tab.locator("#connection")).to_have_attribute("data-state", "connected")

    page.click("#sign-out")
    expect(page).to_have_url(at(chat_url, "/login"))
    expect(other_tab).to_have_url(at(chat_url, "/login"))
    expect(other_tab.locator("#sign-in")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(at(chat_url, "/login"))
    expect(page.locator("#messages")).to_have_count(0)


def test_changing_the_password_signs_out_the_other_browsers_only(
        new_page: NewPage, chat_url: str) -> None:
    changer = new_page()
    signed_in(changer, chat_url, "bob")
    elsewhere = new_page()
    signed_in(elsewhere, chat_url, "bob")

    changer.get_by_role("link", name="Change password").click()
    expect(changer).to_have_url(at(chat_url, "/account/password"))
    new = "a new horse battery"
    changer.fill("#current", PASSWORD)
    changer.fill("#new", new)
    changer.fill("#confirm", new)
    changer.click("#change-password button[type=submit]")
    expect(changer.locator(".form-ok")).to_have_text("Password changed.")
    expect(changer.locator(".form-error")).to_have_count(0)

    # The other browser's page is still open on its socket: its next action ends there.
    send(elsewhere, "Anyone there?")
    expect(elsewhere).to_have_url(at(chat_url, "/login"))
    elsewhere.goto("/")
    expect(elsewhere).to_have_url(at(chat_url, "/login"))

    changer.goto("/")
    expect(changer).to_have_url(at(chat_url, "/"))
    expect(changer.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(changer.locator("#user-name")).to_have_text("bob")

    assert sign_in(elsewhere, "bob", PASSWORD).status == 401
    assert sign_in(elsewhere, "bob", new).status == 302
    expect(elsewhere.locator("#connection")).to_have_attribute("data-state", "connected")


def test_repeated_wrong_passwords_lock_the_account_not_the_others(
        new_page: NewPage, chat_url: str) -> None:
    page = new_page()
    for _ in range(MAX_FAILURES):
        assert sign_in(page, "carol", "guessing again").status == 401
        expect(page.locator(".form-error")).to_have_text("Wrong user name or password.")
    throttled = sign_in(page, "carol", PASSWORD)
    assert throttled.status == 429
    expect(page).to_have_url(at(chat_url, "/login"))
    expect(page.locator(".form-error")).to_contain_text("Too many failed sign-ins")
    expect(page.locator("#messages")).to_have_count(0)
    # From the same address, another account still signs in.
    signed_in(page, chat_url, "alice")
