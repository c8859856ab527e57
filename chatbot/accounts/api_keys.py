"""Keys to the OpenAI-compatible API (`/v1/...`, web/api.py): who a bearer key acts as.

With accounts on, each user makes their own keys in the page (`/account/keys`); a key acts
as its user, reading exactly the collections they may read, and stops working when it is
revoked, the user is removed, or while the user is disabled. With accounts off there is one
key, CHATBOT_API_KEY, set by the operator in the environment; unset, the API is off.

A key is 256 random bits (`lc-` and 43 URL-safe characters), shown once when made. Only its
SHA-256 is kept: a key that random cannot be guessed, so a plain hash is as good as a slow
one here (a slow hash is for passwords people choose), and it lets a request's key be found
with one indexed lookup. The key itself is never stored, logged or put on a command line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from chatbot.accounts.accounts import Accounts
from chatbot.accounts.viewer import Viewer
from chatbot.db.store import Store
from chatbot.errors import AccountError

log = logging.getLogger("chatbot.accounts.api_keys")

PREFIX = "lc-"
MIN_OPERATOR_KEY = 16
MAX_NAME = 60
MAX_KEYS_PER_USER = 20
# The one owner of the operator's key (accounts off): its questions count against the
# per-minute limit like one browser's.
OPERATOR_OWNER = "api:operator"
# `used` is written at most this often per key: a write per request would serialise every
# request on SQLite.
USED_EVERY_S = 60.0


@dataclass(frozen=True)
class ApiKey:
    """A key as its owner's list shows it (never the key itself)."""

    id: int
    name: str
    hint: str  # its last 4 characters
    created: float
    used: float | None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    def __init__(self, store: Store, accounts: Accounts, *, auth: bool,
                 operator_key: str | None):
        self.store = store
        self.accounts = accounts
        self.auth = auth
        # Accounts off only: with them on, every key is a user's (one shared key would act
        # as nobody in particular).
        self._operator = digest(operator_key) if operator_key and not auth else None
        if self._operator is not None and len(operator_key or "") < MIN_OPERATOR_KEY:
            # Wrong keys are not throttled (a user's key cannot be guessed): neither may the
            # operator's be. The key itself is not logged.
            log.warning("CHATBOT_API_KEY is shorter than %d characters: the API stays off. "
                        "Set a random one, e.g. `openssl rand -hex 32`.", MIN_OPERATOR_KEY)
            self._operator = None

    @property
    def enabled(self) -> bool:
        """Whether any key can open the API: accounts on, or CHATBOT_API_KEY set."""
        return self.auth or self._operator is not None

    def create(self, user_id: int, name: str) -> str:
        """A new key of the user, named `name`: the key itself, to be shown once."""
        name = " ".join(name.split())
        if not 1 <= len(name) <= MAX_NAME:
            raise AccountError(f"A key's name is 1 to {MAX_NAME} characters.")
        key = PREFIX + secrets.token_urlsafe(32)
        with self.store.transaction() as db:
            count = db.execute("SELECT COUNT(*) FROM api_keys WHERE user_id = ?",
                               (user_id,)).fetchone()[0]
            if count >= MAX_KEYS_PER_USER:
                raise AccountError(f"You have {count} keys, the most allowed. Revoke one "
                                   "first.")
            db.execute("INSERT INTO api_keys (user_id, name, hash, hint, created) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (user_id, name, digest(key), key[-4:], time.time()))
        return key

    def list(self, user_id: int) -> list[ApiKey]:
        rows = self.store.read("SELECT id, name, hint, created, used FROM api_keys "
                               "WHERE user_id = ? ORDER BY created, id", (user_id,))
        return [ApiKey(r["id"], r["name"], r["hint"], r["created"], r["used"]) for r in rows]

    def revoke(self, user_id: int, key_id: int) -> bool:
        """False when the user has no such key (another user's is no such key)."""
        return self.store.write("DELETE FROM api_keys WHERE id = ? AND user_id = ?",
                                (key_id, user_id)).rowcount > 0

    def viewer(self, key: str) -> Viewer | None:
        """Who `key` acts as; None for a wrong, revoked or disabled user's key."""
        if not key.startswith(PREFIX) and self._operator is None:
            return None
        hashed = digest(key)
        if self._operator is not None:
            # Accounts off: anonymous, reading every collection, like a browser.
            return (Viewer(OPERATOR_OWNER) if hmac.compare_digest(hashed, self._operator)
                    else None)
        if not self.auth:
            return None
        rows = self.store.read("SELECT id, user_id, hash, used FROM api_keys WHERE hash = ?",
                               (hashed,))
        # Looked up by its hash, which tells a timing observer nothing about the key; the
        # comparison again in constant time all the same.
        if not rows or not hmac.compare_digest(rows[0]["hash"], hashed):
            return None
        user = self.accounts.get(rows[0]["user_id"])
        if user is None or user.disabled:
            return None
        now = time.time()
        if (rows[0]["used"] or 0) < now - USED_EVERY_S:
            self.store.write("UPDATE api_keys SET used = ? WHERE id = ?", (now, rows[0]["id"]))
        return Viewer.of(user)
