"""Accounts: users, their passwords, sessions and sign-in throttling (who may read what is
viewer.py's).

Only used with AUTH=on; with accounts off every browser is its own anonymous owner and reads
every collection.

Passwords are hashed with scrypt (Werkzeug's `generate_password_hash`, salted, 32 MiB per
hash), never stored or logged in clear. A user's `epoch` is part of every session cookie
issued to them: a changed password, a disabled account or a removal bumps or drops it, and
each of their cookies stops working at the next request or socket event.

Sign-in failures are kept in the database (shared by every instance of a deployment), per
(account, address) pair and per address; past either limit within the window, further
attempts from that address are refused without checking the password until the oldest
failure leaves the window. Never per account alone: then anyone could lock a user out by
failing five times under their name, and the right password from the user's own address
would be refused too.

Sessions are recorded (`sessions`, keyed by the random `login` id in the cookie): signing
out deletes the row, so a copy of the cookie is worthless afterwards, and one unused for
AUTH_SESSION_DAYS has expired here whatever the cookie says.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from chatbot.db.store import Store
from chatbot.errors import AccountError, Throttled

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
MIN_PASSWORD = 8
# Checked against when the name is unknown, so that a wrong name costs as long as a
# wrong password and the timing does not tell which names exist.
_DUMMY_HASH = generate_password_hash("not a password")




@dataclass(frozen=True)
class User:
    id: int
    name: str
    admin: bool
    disabled: bool
    epoch: int

    @property
    def key(self) -> str:
        """The owner key of this user's conversations and uploads."""
        return f"user:{self.id}"


class Accounts:
    def __init__(self, store: Store, *, max_failures: int, max_failures_per_address: int,
                 failure_window_s: float, session_s: float = 14 * 86400):
        self.store = store
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures_per_address
        self.window = failure_window_s
        self.session_s = session_s

    # Administration -------------------------------------------------------------------

    def add(self, name: str, password: str, *, admin: bool = False) -> User:
        """A new user. The first admin takes over the conversations, uploads and presets made
        before accounts existed, so turning accounts on loses nothing."""
        if not NAME.match(name) or ".." in name:
            raise AccountError("A user name is 1 to 32 letters, digits, '.', '_' or '-', "
                               "starting with a letter or digit, without '..'.")
        _check_password(password)
        with self.store.transaction() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"There is already a user named {name}.")
            first_admin = admin and not db.execute(
                "SELECT 1 FROM users WHERE admin = 1").fetchone()
            cursor = db.execute("INSERT INTO users (name, password, admin, created) "
                                "VALUES (?, ?, ?, ?)",
                                (name, generate_password_hash(password), int(admin),
                                 time.time()))
            user_id = cursor.lastrowid
            if first_admin:
                key = f"user:{user_id}"
                db.execute("UPDATE conversations SET browser = ? "
                           "WHERE browser NOT LIKE 'user:%'", (key,))
                db.execute("UPDATE uploads SET owner = ? WHERE owner NOT LIKE 'user:%'", (key,))
                db.execute("UPDATE presets SET owner = ? WHERE owner NOT LIKE 'user:%'", (key,))
        user = self.by_name(name)
        assert user is not None
        return user

    def users(self) -> list[User]:
        return [_user(r) for r in self.store.read("SELECT * FROM users ORDER BY name")]

    def get(self, user_id: int) -> User | None:
        rows = self.store.read("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    def by_name(self, name: str) -> User | None:
        rows = self.store.read("SELECT * FROM users WHERE name = ?", (name,))
        return _user(rows[0]) if rows else None

    def _require(self, name: str) -> User:
        user = self.by_name(name)
        if user is None:
            raise AccountError(f"No user named {name}.")
        return user

    def set_password(self, name: str, password: str) -> User:
        """Also signs the user out everywhere (their cookies carry the old epoch)."""
        user = self._require(name)
        _check_password(password)
        self.store.write("UPDATE users SET password = ?, epoch = epoch + 1 WHERE id = ?",
                         (generate_password_hash(password), user.id))
        prefix = _pair_key(name, "")
        self.store.write("DELETE FROM login_failures WHERE substr(key, 1, ?) = ?",
                         (len(prefix), prefix))
        return self._require(name)

    def set_disabled(self, name: str, disabled: bool) -> User:
        user = self._require(name)
        if disabled:
            self._keep_an_admin(user, "disable")
        self.store.write("UPDATE users SET disabled = ?, epoch = epoch + 1 WHERE id = ?",
                         (int(disabled), user.id))
        return self._require(name)

    def set_admin(self, name: str, admin: bool) -> User:
        user = self._require(name)
        if not admin:
            self._keep_an_admin(user, "demote")
        self.store.write("UPDATE users SET admin = ?, epoch = epoch + 1 WHERE id = ?",
                         (int(admin), user.id))
        return self._require(name)

    def removable(self, name: str) -> User:
        """The user, if `remove` would remove them; raises AccountError saying why not."""
        user = self._require(name)
        self._keep_an_admin(user, "remove")
        return user

    def remove(self, name: str) -> int:
        """Delete the user, their conversations, upload records and unshared presets; the
        number of conversations deleted. Their collections are the caller's to hand over."""
        user = self.removable(name)
        with self.store.transaction() as db:
            deleted = db.execute("DELETE FROM conversations WHERE browser = ?",
                                 (user.key,)).rowcount
            db.execute("DELETE FROM browsers WHERE id = ?", (user.key,))
            db.execute("DELETE FROM uploads WHERE owner = ?", (user.key,))
            # A shared preset stays: the other users start from it, admins keep it.
            db.execute("DELETE FROM presets WHERE owner = ? AND shared = 0", (user.key,))
            prefix = _pair_key(name, "")
            db.execute("DELETE FROM login_failures WHERE substr(key, 1, ?) = ?",
                       (len(prefix), prefix))
            db.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
            db.execute("DELETE FROM users WHERE id = ?", (user.id,))
        return deleted

    def _keep_an_admin(self, user: User, action: str) -> None:
        if not user.admin or user.disabled:
            return
        others = self.store.read("SELECT 1 FROM users WHERE admin = 1 AND disabled = 0 "
                                 "AND id != ?", (user.id,))
        if not others:
            raise AccountError(f"Cannot {action} {user.name}: it is the only active admin. "
                               "Make another user admin first.")

    # Signing in -----------------------------------------------------------------------

    def sign_in(self, name: str, password: str, address: str) -> User:
        """The user, if the password is theirs and they are enabled; raises Throttled or
        AccountError (one message for every wrong combination)."""
        now = time.time()
        keys = (_pair_key(name, address), f"address:{address}")
        self._throttle(keys, now)
        user = self.by_name(name)
        ok = check_password_hash(self._hash(user) if user else _DUMMY_HASH,
                                 password)
        if user is None or not ok:
            with self.store.transaction() as db:
                db.executemany("INSERT INTO login_failures (key, at) VALUES (?, ?)",
                               [(k, now) for k in keys])
                db.execute("DELETE FROM login_failures WHERE at < ?", (now - self.window,))
            raise AccountError("Wrong user name or password.")
        if user.disabled:
            raise AccountError("This account is disabled. Ask an admin.")
        self.store.write("DELETE FROM login_failures WHERE key = ?", (keys[0],))
        return user

    # Sessions ---------------------------------------------------------------------------

    def open_session(self, user: User) -> str:
        """A new session of `user`: its id, for the cookie."""
        login, now = secrets.token_hex(16), time.time()
        with self.store.transaction() as db:
            db.execute("INSERT INTO sessions (id, user_id, created, seen) VALUES (?, ?, ?, ?)",
                       (login, user.id, now, now))
            db.execute("DELETE FROM sessions WHERE seen < ?", (now - self.session_s,))
        return login

    def session_alive(self, login: object, user: User) -> bool:
        """Whether session `login` of `user` has not been closed or expired; renews it (at
        most once a minute: a write per request would serialise every request on SQLite)."""
        if not isinstance(login, str):
            return False
        rows = self.store.read("SELECT seen FROM sessions WHERE id = ? AND user_id = ?",
                               (login, user.id))
        now = time.time()
        if not rows or rows[0]["seen"] < now - self.session_s:
            return False
        if rows[0]["seen"] < now - 60:
            self.store.write("UPDATE sessions SET seen = ? WHERE id = ?", (now, login))
        return True

    def close_session(self, login: object) -> None:
        if isinstance(login, str):
            self.store.write("DELETE FROM sessions WHERE id = ?", (login,))

    def _throttle(self, keys: tuple[str, str], now: float) -> None:
        for key, limit in zip(keys, (self.max_failures, self.max_failures_per_address),
                              strict=True):
            rows = self.store.read("SELECT at FROM login_failures WHERE key = ? AND at >= ? "
                                   "ORDER BY at", (key, now - self.window))
            if limit and len(rows) >= limit:
                oldest = rows[len(rows) - limit]["at"]
                raise Throttled(max(1, int(oldest + self.window - now) + 1))

    def _hash(self, user: User) -> str:
        return str(self.store.read("SELECT password FROM users WHERE id = ?",
                                   (user.id,))[0][0])

    def check_password(self, user: User, password: str) -> bool:
        return check_password_hash(self._hash(user), password)

    def active(self, user_id: object, epoch: object, login: object) -> User | None:
        """The user a session names, if it still may act: exists, enabled, same epoch, and
        the session itself neither signed out nor expired."""
        if not isinstance(user_id, int) or not isinstance(epoch, int):
            return None
        user = self.get(user_id)
        if user is None or user.disabled or user.epoch != epoch:
            return None
        return user if self.session_alive(login, user) else None

    def trusted(self, name: str) -> User | None:
        """The user an authenticating proxy vouches for, created (not admin) on first sight;
        None if the name cannot be a user name or the account is disabled."""
        if not NAME.match(name) or ".." in name:
            return None
        user = self.by_name(name)
        if user is None:
            try:
                # A random password nobody knows: the proxy signs this user in. An admin
                # can set a real one with `chatbot users passwd`.
                user = self.add(name, secrets.token_urlsafe(32))
            except AccountError:  # another request created it meanwhile
                user = self.by_name(name)
        return None if user is None or user.disabled else user


def _account_key(name: str) -> str:
    return f"account:{name.lower()}"


def _pair_key(name: str, address: str) -> str:
    return f"{_account_key(name)}|{address}"


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"A password has at least {MIN_PASSWORD} characters.")


def _user(row: sqlite3.Row) -> User:
    return User(id=row["id"], name=row["name"], admin=bool(row["admin"]),
                disabled=bool(row["disabled"]), epoch=row["epoch"])
