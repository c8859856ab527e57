"""Schema migrations for the conversation store, applied in order when the store opens.

Each migration is a function decorated with `@migration`; its name is recorded in the
`_migrations` table once it has run, so an existing database upgrades itself and nothing is
applied twice. A migration runs in its own transaction together with its record: if it
raises, the database stays exactly at the previous version. Migrations receive the store's
connection and must use `db.execute` only: `executescript` and `commit` end the transaction
early and would let a half-applied migration survive a failure.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from chatbot.errors import MigrationError

log = logging.getLogger("chatbot.db.migrations")

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[Migration] = []

TABLE = "_migrations"



def migration(fn: Migration) -> Migration:
    """Register `fn` as the next migration; its name is its identity, forever."""
    if any(known.__name__ == fn.__name__ for known in MIGRATIONS):
        raise ValueError(f"a migration named {fn.__name__} is already registered")
    MIGRATIONS.append(fn)
    return fn


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now.

    `db` must be in autocommit mode (`isolation_level=None`) so the transactions here are the
    only ones. Each migration checks its record inside its own write transaction, so two
    processes opening the same file at once still apply it exactly once. Foreign keys are
    off while migrations run (SQLite can only switch them outside a transaction) so that a
    table rebuild's DROP TABLE does not cascade; each migration must leave them consistent.
    """
    applied_now: list[str] = []
    foreign_keys = db.execute("PRAGMA foreign_keys").fetchone()[0]
    db.execute("PRAGMA foreign_keys=OFF")
    try:
        db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} "
                   "(name TEXT PRIMARY KEY, applied_at TEXT)")
        for fn in migrations:
            if _apply(db, fn):
                log.info("applied schema migration %s", fn.__name__)
                applied_now.append(fn.__name__)
    finally:
        db.execute(f"PRAGMA foreign_keys={foreign_keys}")
    return applied_now


def _apply(db: sqlite3.Connection, fn: Migration) -> bool:
    """Run `fn` and record it in one transaction, unless it is recorded already."""
    name = fn.__name__
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute(f"SELECT 1 FROM {TABLE} WHERE name = ?", (name,)).fetchone():
            db.execute("COMMIT")
            return False
        # Compared with what was there before, so an old stray row cannot block an upgrade.
        violations = _foreign_key_violations(db)
        fn(db)
        if not db.in_transaction:
            raise MigrationError(f"schema migration {name} ended its own transaction; "
                                 "migrations must use db.execute only")
        if _foreign_key_violations(db) > violations:
            raise MigrationError(f"schema migration {name} left rows that break a foreign "
                                 "key; it was rolled back")
        db.execute(f"INSERT INTO {TABLE} (name, applied_at) VALUES (?, ?)",
                   (name, datetime.now(UTC).isoformat()))
        db.execute("COMMIT")
    except MigrationError:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    except Exception as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise MigrationError(f"schema migration {name} failed and was rolled back: "
                             f"{exc}") from exc
    return True


def _foreign_key_violations(db: sqlite3.Connection) -> int:
    return len(db.execute("PRAGMA foreign_key_check").fetchall())


# The schema as it stood before migrations existed, one statement per object it names.
INITIAL_SCHEMA: tuple[tuple[str, str], ...] = (
    ("browsers", """CREATE TABLE browsers (
    id TEXT PRIMARY KEY,
    current TEXT,
    created REAL NOT NULL
)"""),
    ("conversations", """CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    browser TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    context_start INTEGER NOT NULL DEFAULT 0,
    truncation_noticed INTEGER NOT NULL DEFAULT 0
)"""),
    ("conversations_by_browser",
     "CREATE INDEX conversations_by_browser ON conversations (browser, updated)"),
    ("messages", """CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'done',
    tokens INTEGER,
    sources TEXT,
    meta TEXT,
    created REAL NOT NULL
)"""),
    ("messages_by_conversation",
     "CREATE INDEX messages_by_conversation ON messages (conversation, id)"),
)


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    # Databases written before migrations existed already hold this schema (it never
    # changed then): adopt them by creating only what is missing.
    existing = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    for name, ddl in INITIAL_SCHEMA:
        if name not in existing:
            db.execute(ddl)


@migration
def m002_accounts(db: sqlite3.Connection) -> None:
    # Users (accounts.py); failed sign-ins, counted per account and per address for
    # throttling; and uploads, each recorded with who sent it into which collection, so
    # that /files/ serves a file only to those who may read it and per-user quotas count.
    db.execute("""CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    epoch INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
)""")
    db.execute("CREATE TABLE login_failures (key TEXT NOT NULL, at REAL NOT NULL)")
    db.execute("CREATE INDEX login_failures_by_key ON login_failures (key, at)")
    db.execute("""CREATE TABLE uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file TEXT NOT NULL,
    owner TEXT NOT NULL,
    collection TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created REAL NOT NULL
)""")
    db.execute("CREATE INDEX uploads_by_file ON uploads (file)")
    db.execute("CREATE INDEX uploads_by_owner ON uploads (owner, created)")


@migration
def m003_search(db: sqlite3.Connection) -> None:
    # Full-text search over message text and conversation titles, kept in step by
    # triggers (which also fire for the messages a conversation's deletion cascades to).
    # Messages: an external-content table, the text stored once, keyed by the message's
    # INTEGER PRIMARY KEY. Titles are short and a conversation's rowid is not stable (a
    # VACUUM may renumber it), so they are copied with the conversation's id instead.
    tokenizer = "tokenize = 'unicode61 remove_diacritics 2'"
    db.execute("CREATE VIRTUAL TABLE messages_fts USING fts5(content, content = 'messages', "
               f"content_rowid = 'id', {tokenizer})")
    add = "INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);"
    remove = ("INSERT INTO messages_fts (messages_fts, rowid, content) "
              "VALUES ('delete', old.id, old.content);")
    db.execute(f"CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN {add} END")
    db.execute(f"CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN {remove} END")
    db.execute("CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages "
               f"BEGIN {remove} {add} END")
    db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")

    db.execute(f"CREATE VIRTUAL TABLE titles_fts USING fts5(conversation UNINDEXED, title, "
               f"{tokenizer})")
    db.execute("CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations BEGIN "
               "INSERT INTO titles_fts (conversation, title) VALUES (new.id, new.title); END")
    db.execute("CREATE TRIGGER titles_fts_delete AFTER DELETE ON conversations BEGIN "
               "DELETE FROM titles_fts WHERE conversation = old.id; END")
    db.execute("CREATE TRIGGER titles_fts_update AFTER UPDATE OF title ON conversations BEGIN "
               "UPDATE titles_fts SET title = new.title WHERE conversation = old.id; END")
    db.execute("INSERT INTO titles_fts (conversation, title) SELECT id, title FROM conversations")


@migration
def m004_asked(db: sqlite3.Connection) -> None:
    # When each owner asked a question, for the per-minute limit (limits.py): counted apart
    # from the messages, which editing, regenerating and deleting remove.
    db.execute("CREATE TABLE asked (owner TEXT NOT NULL, at REAL NOT NULL)")
    db.execute("CREATE INDEX asked_by_owner ON asked (owner, at)")


@migration
def m005_sessions(db: sqlite3.Connection) -> None:
    # Signed-in sessions (accounts.py), each named by the random id in its cookie: signing
    # out deletes the row, so a copied cookie stops working; `seen` lets one expire.
    db.execute("""CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    created REAL NOT NULL,
    seen REAL NOT NULL
)""")
    db.execute("CREATE INDEX sessions_by_user ON sessions (user_id)")
    # Conversations imported from files, counted against the per-day limit (limits.py).
    db.execute("CREATE TABLE imports (owner TEXT NOT NULL, at REAL NOT NULL, "
               "bytes INTEGER NOT NULL)")
    db.execute("CREATE INDEX imports_by_owner ON imports (owner, at)")


@migration
def m006_uploads_removed(db: sqlite3.Connection) -> None:
    # When an upload's document or collection was removed: it no longer counts against its
    # owner's storage, but still against the uploads per day (deleting must not refund
    # those, or upload-delete-repeat has no limit). NULL: still held.
    db.execute("ALTER TABLE uploads ADD COLUMN removed REAL")


@migration
def m007_message_tree(db: sqlite3.Connection) -> None:
    # Messages form a tree: regenerating or editing adds a version beside the old one
    # instead of deleting it. `parent` is the message a message follows (NULL: it opens the
    # conversation); `chosen` marks the version shown among those of one parent, so the
    # shown path is stored. A conversation written before is one path: each message follows
    # the one before it, and is the only (so chosen) version.
    db.execute("ALTER TABLE messages ADD COLUMN parent INTEGER "
               "REFERENCES messages (id) ON DELETE CASCADE")
    db.execute("ALTER TABLE messages ADD COLUMN chosen INTEGER NOT NULL DEFAULT 1")
    db.execute("UPDATE messages SET parent = (SELECT MAX(p.id) FROM messages p WHERE "
               "p.conversation = messages.conversation AND p.id < messages.id)")
    db.execute("CREATE INDEX messages_by_parent ON messages (parent)")


@migration
def m008_reasoning(db: sqlite3.Connection) -> None:
    # A reasoning model's thoughts, kept with its answer but apart from the text: the text
    # goes back to the model in later turns and is searched, the thoughts neither.
    # NULL: the answer had none.
    db.execute("ALTER TABLE messages ADD COLUMN reasoning TEXT")


@migration
def m009_presets(db: sqlite3.Connection) -> None:
    # Presets (chat/presets.py): a named system prompt with sampling settings, a model and a
    # collection, each its owner's; a `shared` one (an admin's) every user may start from.
    # `settings` is JSON, as a conversation's is, so a new knob needs no migration.
    db.execute("""CREATE TABLE presets (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    shared INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
)""")
    db.execute("CREATE INDEX presets_by_owner ON presets (owner, created)")
    # The preset a conversation was started from, under its name then: the conversation keeps
    # its own copy of the settings, so it is unaffected when the preset changes or goes.
    db.execute("""CREATE TABLE conversation_presets (
    conversation TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    preset TEXT NOT NULL,
    name TEXT NOT NULL
)""")


@migration
def m010_organise(db: sqlite3.Connection) -> None:
    # The sidebar's folders, each an owner's, its name unique to that owner whatever its
    # case; and where a conversation sits: pinned or not, in one folder or none (a row only
    # once it was organised; none: neither). Kept beside `conversations`, which stays as it
    # was. Deleting a folder moves its conversations out (SET NULL), never deletes them.
    db.execute("""CREATE TABLE folders (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    created REAL NOT NULL
)""")
    db.execute("CREATE UNIQUE INDEX folders_by_owner ON folders (owner, name COLLATE NOCASE)")
    db.execute("""CREATE TABLE organised (
    conversation TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    pinned INTEGER NOT NULL DEFAULT 0,
    folder TEXT REFERENCES folders (id) ON DELETE SET NULL
)""")
    db.execute("CREATE INDEX organised_by_folder ON organised (folder)")


@migration
def m011_shares(db: sqlite3.Connection) -> None:
    # Read-only links to a copy of a conversation as it was when shared (its messages as
    # JSON): later messages never reach the link. Deleting the conversation deletes its
    # links (CASCADE); the token is the link's only secret.
    db.execute("""CREATE TABLE shares (
    token TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    messages TEXT NOT NULL,
    created REAL NOT NULL
)""")
    db.execute("CREATE INDEX shares_by_owner ON shares (owner, created)")
    db.execute("CREATE INDEX shares_by_conversation ON shares (conversation)")


@migration
def m012_api_keys(db: sqlite3.Connection) -> None:
    # Users' keys to the OpenAI-compatible API (accounts/api_keys.py): only a SHA-256 of
    # each key is kept, with its last characters to tell keys apart in the list. A removed
    # user's keys go with them.
    db.execute("""CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created REAL NOT NULL,
    used REAL
)""")
    db.execute("CREATE INDEX api_keys_by_user ON api_keys (user_id)")
