"""Accounts (AUTH=on): users and passwords, sign-in and its throttling, sessions, CSRF, the
operator's `chatbot users` CLI, and the fair queue. The app runs in-process against the
canned LLM server; the CLI runs as a real process on the same data folder."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from chatbot.accounts.accounts import Accounts
from chatbot.chat.slots import SlotQueue
from chatbot.db.store import Store
from chatbot.errors import AccountError, Throttled
from chatbot.metrics import Metrics
from harness.fake_llm import FakeLLM, Reply
from harness.inprocess import ORIGIN, ChatApp, Tab
from harness.uploads import add_in_process, rag_data_dir
from rag import Rag, RagSettings

PASSWORD = "correct horse battery"


def accounts_of(app: ChatApp) -> Accounts:
    return app.app.extensions["chatbot"].accounts


@pytest.fixture
def auth_chat(make_chat: Callable[..., ChatApp]) -> ChatApp:
    app = make_chat(auth=True, auth_max_failures=3, auth_max_failures_per_address=5)
    accounts_of(app).add("alice", PASSWORD, admin=True)
    accounts_of(app).add("bob", PASSWORD)
    return app


# Accounts --------------------------------------------------------------------------------

def test_passwords_are_hashed_and_names_checked(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    accounts = Accounts(store, max_failures=0, max_failures_per_address=0,
                        failure_window_s=60)
    accounts.add("alice", PASSWORD)
    stored = store.read("SELECT password FROM users")[0][0]
    assert stored.startswith("scrypt:") and PASSWORD not in stored
    for name, password, problem in (("alice", PASSWORD, "already"),
                                     ("ALICE", PASSWORD, "already"),
                                     ("bad name", PASSWORD, "user name"),
                                     ("a..b", PASSWORD, "user name"),
                                     ("carol", "short", "at least 8")):
        with pytest.raises(AccountError, match=problem):
            accounts.add(name, password)
    assert accounts.sign_in("alice", PASSWORD, "1.2.3.4").name == "alice"
    with pytest.raises(AccountError, match="Wrong user name or password"):
        accounts.sign_in("alice", "wrong password", "1.2.3.4")
    with pytest.raises(AccountError, match="Wrong user name or password"):
        accounts.sign_in("nobody", PASSWORD, "1.2.3.4")
    store.close()


def test_the_first_admin_takes_over_conversations_from_before_accounts(tmp_path: Path
                                                                       ) -> None:
    store = Store(tmp_path / "db.sqlite3")
    old = store.create("browser-1")
    store.add_message(old.id, "user", "from before accounts")
    accounts = Accounts(store, max_failures=0, max_failures_per_address=0,
                        failure_window_s=60)
    user = accounts.add("bob", PASSWORD)
    assert store.conversations(user.key) == []  # not an admin: takes nothing
    admin = accounts.add("alice", PASSWORD, admin=True)
    assert [c.id for c in store.conversations(admin.key)] == [old.id]
    assert store.conversations("browser-1") == []
    store.close()


def test_sign_in_is_throttled_per_account_and_address_and_per_address(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    accounts = Accounts(store, max_failures=3, max_failures_per_address=5,
                        failure_window_s=600)
    for name in ("alice", "bob", "carol"):
        accounts.add(name, PASSWORD)
    for _ in range(3):
        with pytest.raises(AccountError, match="Wrong"):
            accounts.sign_in("alice", "guess", "10.0.0.1")
    # That address is throttled on that account, even with the right password, until the
    # window passes...
    with pytest.raises(Throttled) as throttled:
        accounts.sign_in("alice", PASSWORD, "10.0.0.1")
    assert 0 < throttled.value.retry_after <= 601
    # ...but the account is not locked: from another address its owner signs in.
    assert accounts.sign_in("alice", PASSWORD, "10.0.0.2").name == "alice"
    assert accounts.sign_in("bob", PASSWORD, "10.0.0.2").name == "bob"
    # One address guessing at many accounts is stopped too.
    for name in ("bob", "carol"):
        with pytest.raises(AccountError, match="Wrong"):
            accounts.sign_in(name, "guess", "10.0.0.1")
    with pytest.raises(Throttled):
        accounts.sign_in("carol", PASSWORD, "10.0.0.1")
    # An admin's new password lifts the account's lock.
    accounts.set_password("alice", "a new password")
    assert accounts.sign_in("alice", "a new password", "10.0.0.3").name == "alice"
    store.close()


def test_disabling_or_a_new_password_ends_sessions_and_an_admin_remains(tmp_path: Path
                                                                        ) -> None:
    store = Store(tmp_path / "db.sqlite3")
    accounts = Accounts(store, max_failures=0, max_failures_per_address=0,
                        failure_window_s=60)
    alice = accounts.add("alice", PASSWORD, admin=True)
    login = accounts.open_session(alice)
    assert accounts.active(alice.id, alice.epoch, login) == alice
    changed = accounts.set_password("alice", "another password")
    assert accounts.active(alice.id, alice.epoch, login) is None
    assert accounts.active(changed.id, changed.epoch, accounts.open_session(changed))
    # A session signed out (or never opened) is no session, whatever the cookie says.
    accounts.close_session(login)
    assert accounts.active(changed.id, changed.epoch, login) is None
    assert accounts.active(changed.id, changed.epoch, "made up") is None
    for action in (lambda: accounts.set_disabled("alice", True),
                   lambda: accounts.set_admin("alice", False),
                   lambda: accounts.remove("alice")):
        with pytest.raises(AccountError, match="only active admin"):
            action()
    accounts.add("bob", PASSWORD)
    bob_session = accounts.open_session(accounts.sign_in("bob", PASSWORD, "1.2.3.4"))
    disabled = accounts.set_disabled("bob", True)
    assert accounts.active(disabled.id, disabled.epoch, bob_session) is None
    with pytest.raises(AccountError, match="disabled"):
        accounts.sign_in("bob", PASSWORD, "1.2.3.4")
    assert accounts.active("1", 0, "x") is None and accounts.active(None, None, None) is None
    store.close()


# HTTP: sign-in, sessions, CSRF ------------------------------------------------------------

def test_without_a_session_every_route_but_sign_in_and_probes_is_refused(auth_chat: ChatApp
                                                                          ) -> None:
    client = auth_chat.app.test_client()
    page = client.get("/")
    assert page.status_code == 302 and page.headers["Location"].endswith("/login")
    login = client.get("/login")
    assert login.status_code == 200 and b'rel="manifest"' in login.data
    for path in ("/conversations/" + "a" * 32 + "/export.json", "/files/" + "a" * 32,
                 "/account/password"):
        assert client.get(path).status_code == 401, path
    response = client.post("/documents/url", json={"url": "https://example.org/"},
                           headers={"Origin": ORIGIN})
    assert response.status_code == 401
    # The app manifest too: browsers fetch it without cookies, the sign-in page links it.
    for path in ("/healthz", "/metrics", "/static/style.css", "/manifest.webmanifest",
                 "/static/icon-192.png"):
        assert client.get(path).status_code == 200, path


def test_a_socket_without_a_session_is_refused(auth_chat: ChatApp) -> None:
    tab = Tab(auth_chat.app, auth_chat.app.test_client())
    assert not tab.connected


def test_sign_in_renews_the_session_and_sign_out_ends_it(auth_chat: ChatApp) -> None:
    client = auth_chat.app.test_client()
    with client.session_transaction() as planted:
        planted["login"] = "chosen-by-an-attacker"
        planted["uid"] = 999
    wrong = client.post("/login", data={"name": "alice", "password": "nope nope"},
                        headers={"Origin": ORIGIN})
    assert wrong.status_code == 401 and b"Wrong user name or password" in wrong.data
    ok = client.post("/login", data={"name": "alice", "password": PASSWORD},
                     headers={"Origin": ORIGIN})
    assert ok.status_code == 302
    with client.session_transaction() as session:
        assert session["uid"] == accounts_of(auth_chat).by_name("alice").id
        assert session["login"] != "chosen-by-an-attacker"
    page = client.get("/")
    assert page.status_code == 200 and b'id="user-name">alice' in page.data
    tab = auth_chat.tab(client)
    assert tab.connected
    start = tab.mark()
    assert client.post("/logout", headers={"Origin": ORIGIN}).status_code == 302
    tab.wait("signed_out", since=start)
    assert client.get("/").status_code == 302


def test_state_changes_need_the_pages_own_origin(auth_chat: ChatApp) -> None:
    client = auth_chat.app.test_client()
    for headers in ({}, {"Origin": "http://evil.example"},
                    {"Referer": "http://evil.example/form"}):
        response = client.post("/login", data={"name": "alice", "password": PASSWORD},
                               headers=headers)
        assert response.status_code == 403, headers
    signed_in = auth_chat.signed_in("alice", PASSWORD)
    assert signed_in.post("/logout", headers={"Origin": "http://evil.example"}
                          ).status_code == 403
    assert signed_in.get("/").status_code == 200  # still signed in
    referer = auth_chat.app.test_client().post(
        "/login", data={"name": "alice", "password": PASSWORD},
        headers={"Referer": f"{ORIGIN}/login"})
    assert referer.status_code == 302


def test_the_sign_in_page_throttles_and_says_so(auth_chat: ChatApp) -> None:
    client = auth_chat.app.test_client()
    for _ in range(3):
        assert client.post("/login", data={"name": "bob", "password": "guess guess"},
                           headers={"Origin": ORIGIN}).status_code == 401
    throttled = client.post("/login", data={"name": "bob", "password": PASSWORD},
                            headers={"Origin": ORIGIN})
    assert throttled.status_code == 429 and b"Too many failed sign-ins" in throttled.data
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'chatbot_sign_ins_total{outcome="refused"} 3.0' in metrics
    assert 'chatbot_sign_ins_total{outcome="throttled"} 1.0' in metrics


def test_a_changed_password_ends_other_sessions_not_this_one(auth_chat: ChatApp) -> None:
    here = auth_chat.signed_in("bob", PASSWORD)
    elsewhere = auth_chat.signed_in("bob", PASSWORD)
    other_tab = auth_chat.tab(elsewhere)
    form = {"current": PASSWORD, "new": "brand new secret", "confirm": "brand new secret"}
    wrong = here.post("/account/password", data={**form, "current": "not it at all"},
                      headers={"Origin": ORIGIN})
    assert wrong.status_code == 400 and b"current password is wrong" in wrong.data
    changed = here.post("/account/password", data=form, headers={"Origin": ORIGIN})
    assert changed.status_code == 200 and b"Password changed." in changed.data
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302
    # The other browser's open tab is refused at its next event.
    start = other_tab.emit("reset", {})
    assert "signed out" in other_tab.wait("error", since=start)[1]["message"]
    assert not other_tab.connected


def test_a_disabled_user_is_signed_out_at_the_next_event(auth_chat: ChatApp) -> None:
    tab = auth_chat.tab(auth_chat.signed_in("bob", PASSWORD))
    accounts_of(auth_chat).set_disabled("bob", True)
    start = tab.send("hello")
    tab.wait("signed_out", since=start)
    assert not tab.connected


def test_a_trusted_proxy_names_the_user_and_nobody_else_can(
        make_chat: Callable[..., ChatApp]) -> None:
    app = make_chat(auth=True, auth_trusted_header="X-Forwarded-User",
                    auth_trusted_proxies="127.0.0.0/8")
    client = app.app.test_client()
    page = client.get("/", headers={"X-Forwarded-User": "dora"})
    assert page.status_code == 200 and b'id="user-name">dora' in page.data
    assert accounts_of(app).by_name("dora") is not None
    outsider = app.app.test_client()
    refused = outsider.get("/", headers={"X-Forwarded-User": "dora"},
                           environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert refused.status_code == 302
    accounts_of(app).set_disabled("dora", True)
    assert client.get("/", headers={"X-Forwarded-User": "dora"}).status_code == 302


def test_behind_a_trusted_proxy_throttling_counts_the_forwarded_address(
        make_chat: Callable[..., ChatApp]) -> None:
    app = make_chat(auth=True, auth_max_failures=0, auth_max_failures_per_address=2,
                    auth_trusted_proxies="127.0.0.1")
    accounts_of(app).add("alice", PASSWORD, admin=True)
    client = app.app.test_client()

    def sign_in(password: str, forwarded: str) -> int:
        return client.post("/login", data={"name": "alice", "password": password},
                           headers={"Origin": ORIGIN,
                                    "X-Forwarded-For": forwarded}).status_code

    assert [sign_in("guess guess", "203.0.113.9") for _ in range(2)] == [401, 401]
    assert sign_in(PASSWORD, "203.0.113.9") == 429  # the guesser is locked out...
    assert sign_in(PASSWORD, "spoofed, 198.51.100.4") == 302  # ...not the others


def test_accounts_off_keeps_the_anonymous_browser(chat: ChatApp) -> None:
    client = chat.app.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/login").status_code == 302
    tab = chat.tab(client)
    text, event, _ = tab.ask("hi")
    assert event == "done" and text


# Per-user limits and the fair queue -------------------------------------------------------

def test_messages_per_minute_are_limited_per_user(make_chat: Callable[..., ChatApp]) -> None:
    app = make_chat(auth=True, user_messages_per_minute=2)
    accounts_of(app).add("alice", PASSWORD, admin=True)
    accounts_of(app).add("bob", PASSWORD)
    alice = app.tab(app.signed_in("alice", PASSWORD))
    for text in ("one", "two"):
        assert alice.ask(text)[1] == "done"
    start = alice.send("three")
    assert "2 messages in the last minute" in alice.wait("error", since=start)[1]["message"]
    start = alice.emit("regenerate", {})
    assert "2 messages in the last minute" in alice.wait("error", since=start)[1]["message"]
    # Deleting the conversation does not give the questions back either.
    conversation = alice.history()["conversation"]["id"]
    alice.wait("conversations", since=alice.emit("delete", {"id": conversation}))
    start = alice.send("four")
    assert "2 messages in the last minute" in alice.wait("error", since=start)[1]["message"]
    bob = app.tab(app.signed_in("bob", PASSWORD))
    assert bob.ask("mine")[1] == "done"


def test_uploads_per_day_and_storage_are_limited_per_user(
        make_chat: Callable[..., ChatApp]) -> None:
    app = make_chat(auth=True, user_uploads_per_day=1, user_storage_mb=0.01)
    accounts_of(app).add("alice", PASSWORD, admin=True)
    client = app.signed_in("alice", PASSWORD)
    app.app.extensions["chatbot"].store.add_uploads(
        accounts_of(app).by_name("alice").key, "alice-docs", [("f" * 32, 100)])
    refused = client.post("/documents/url", json={"url": "https://example.org/"},
                          headers={"Origin": ORIGIN})
    assert refused.status_code == 429
    assert "at most 1 are allowed per day" in refused.get_json()["error"]
    app2 = make_chat(auth=True, user_storage_mb=0.01)
    accounts_of(app2).add("alice", PASSWORD, admin=True)
    big = app2.signed_in("alice", PASSWORD).post(
        "/documents/files", data={"files": [(io.BytesIO(b"x" * 20000), "big.txt")]},
        headers={"Origin": ORIGIN})
    assert big.status_code == 429 and "0.01 MB" in big.get_json()["error"]


def test_waiting_answers_are_served_round_robin_across_users() -> None:
    queue = SlotQueue(1, Metrics())
    order: list[str] = []
    never = threading.Event()
    assert queue.acquire("heavy", never, lambda _: None)  # the one slot, busy
    threads = []
    queued = threading.Semaphore(0)

    def wait(user: str) -> None:
        def position(_: int) -> None:
            queued.release()
        assert queue.acquire(user, never, position)
        order.append(user)
        queue.release(user)

    # The heavy user's three tabs ask first, the light user last.
    for user in ("heavy", "heavy", "heavy", "light"):
        thread = threading.Thread(target=wait, args=(user,))
        thread.start()
        assert queued.acquire(timeout=5)
        threads.append(thread)
    queue.release("heavy")
    for thread in threads:
        thread.join(timeout=5)
    assert order == ["light", "heavy", "heavy", "heavy"]


def test_a_user_with_many_tabs_does_not_push_others_back(
        make_chat: Callable[..., ChatApp], fake_llm: FakeLLM) -> None:
    app = make_chat(auth=True, llm_concurrency=1)
    accounts_of(app).add("alice", PASSWORD, admin=True)
    accounts_of(app).add("bob", PASSWORD)
    alice_browser = app.signed_in("alice", PASSWORD)
    first = fake_llm.reply("a0", Reply(["x"], pauses=(1,)))
    # Alice asks in three tabs, each its own conversation: one answer runs, two wait.
    for i in range(3):
        tab = app.tab(alice_browser)
        tab.wait("history", since=tab.emit("reset", {}))
        start = tab.send(f"a{i}")
        if i == 0:
            fake_llm.call("a0")
        else:
            tab.wait("status", since=start, where=lambda d: d.get("state") == "queued")
    bob = app.tab(app.signed_in("bob", PASSWORD))
    start = bob.send("b0")
    queued = bob.wait("status", since=start, where=lambda d: d.get("state") == "queued")[1]
    assert queued["position"] == 1  # next, ahead of alice's two waiting tabs
    first.proceed()
    fake_llm.call("b0")
    assert bob.answer(start)[1] == "done"


# The operator's CLI ------------------------------------------------------------------------

def users_cli(data_dir: Path, *args: str, password: str | None = None
              ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "chatbot", "users", *args], env=env,
                          input=f"{password}\n" if password else "", capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_an_admin_manages_users_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = users_cli(data, "add", "alice", "--admin", password=PASSWORD)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Added user alice (admin).")
    assert "before accounts existed are now theirs" in first.stdout
    assert users_cli(data, "add", "bob", password=PASSWORD).stdout == "Added user bob.\n"
    short = users_cli(data, "add", "carol", password="short")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    listing = users_cli(data, "list").stdout.splitlines()
    assert listing == ["name   role   state", "alice  admin  active", "bob    user   active"]
    assert "signed out everywhere" in users_cli(data, "disable", "bob").stdout
    assert "bob    user   disabled" in users_cli(data, "list").stdout
    assert users_cli(data, "enable", "bob").stdout == "Enabled bob.\n"
    assert "other sessions are signed out" in users_cli(data, "passwd", "bob",
                                                        password="new password").stdout
    only = users_cli(data, "admin", "alice", "--revoke")
    assert only.returncode == 1 and "only active admin" in only.stderr
    assert users_cli(data, "admin", "bob").stdout == "bob is now an admin.\n"
    removed = users_cli(data, "remove", "bob")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("Removed bob and their 0 conversations.")
    assert users_cli(data, "remove", "bob").returncode == 1
    store = Store(data / "conversations.sqlite3")
    accounts = Accounts(store, max_failures=0, max_failures_per_address=0,
                        failure_window_s=60)
    assert accounts.sign_in("alice", PASSWORD, "127.0.0.1").admin
    store.close()


def test_a_scripted_brute_force_run_never_gets_in(make_chat: Callable[..., ChatApp]) -> None:
    """200 guesses at one account (the right password among them, late), from one address
    and with forged X-Forwarded-For headers (no trusted proxy is configured): after the
    account's 5 failures every attempt is refused unchecked, the right one included."""
    app = make_chat(auth=True)
    accounts_of(app).add("alice", PASSWORD, admin=True)
    client = app.app.test_client()
    statuses = []
    for i in range(200):
        guess = PASSWORD if i == 150 else f"guess number {i}"
        statuses.append(client.post("/login", data={"name": "alice", "password": guess},
                                    headers={"Origin": ORIGIN,
                                             "X-Forwarded-For": f"198.51.100.{i % 250}"}
                                    ).status_code)
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    assert client.get("/").status_code == 302  # never signed in
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'chatbot_sign_ins_total{outcome="throttled"} 195.0' in metrics


@pytest.mark.slow
def test_removing_a_user_deletes_the_files_attached_in_their_conversations(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    data = rag_data_dir(tmp_path_factory, "remove-attached")
    with FakeLLM() as llm:
        app = ChatApp(data, llm.url, auth=True)
        try:
            accounts_of(app).add("alice", PASSWORD, admin=True)
            accounts_of(app).add("bob", PASSWORD)
            bob = app.signed_in("bob", PASSWORD)
            tab = app.tab(bob)
            conversation = tab.history()["conversation"]["id"]
            for collection, name in ((f"chat-{conversation}", "kite.md"), ("bobs", "owl.md")):
                done = add_in_process(bob, tab, "/documents/files", collection=collection,
                                      files=[(io.BytesIO(f"# {name}\n\nA note.\n".encode()),
                                              name)])
                assert done["state"] == "done", done
        finally:
            app.close()
    uploads = data / "uploads"
    assert sorted(p.name for p in uploads.glob("*/*")) == ["kite.md", "owl.md"]
    removed = users_cli(data, "remove", "bob")
    assert removed.returncode == 0, removed.stderr
    # Their collection goes to the admins; their conversation's attachments go with it.
    assert removed.stdout.endswith("Their collections now belong to the admins (private): "
                                   "bobs.\n")
    assert [p.name for p in uploads.glob("*/*")] == ["owl.md"]
    rag = Rag(RagSettings(data_dir=data))
    assert [c.name for c in rag.collections()] == ["bobs"]
