"""Per-user limits: messages per minute, files, URLs and imported conversations added per day,
bytes of uploads kept.

Counted from the database (messages and uploads are recorded there anyway), so every
instance of a deployment counts the same, and a restart forgets nothing. A user is an account
with AUTH on, a browser without. Each check returns the sentence to show, or None.
"""

from __future__ import annotations

import time

from chatbot.db.store import Store
from chatbot.metrics import Metrics
from chatbot.settings import Settings

DAY_S = 24 * 3600
MB = 1024 * 1024


class Limits:
    def __init__(self, settings: Settings, store: Store, metrics: Metrics):
        self.settings = settings
        self.store = store
        self.metrics = metrics

    def question(self, owner: str) -> str | None:
        """None, counting the question, if `owner` may ask one now."""
        limit = self.settings.user_messages_per_minute
        if not limit or self.store.questions_since(owner, time.time() - 60) < limit:
            self.store.record_question(owner, keep_s=60)
            return None
        self.metrics.limited.labels(limit="messages").inc()
        return (f"You have sent {limit} messages in the last minute, the most allowed here. "
                "Wait a moment, then send it again.")

    def upload(self, owner: str, items: int, size: int) -> str | None:
        """`items` files or URLs of `size` bytes in all about to be added."""
        added, kept = self.store.upload_usage(owner, time.time() - DAY_S)
        added += self._imports_since(owner, time.time() - DAY_S)
        per_day = self.settings.user_uploads_per_day
        if per_day and added + items > per_day:
            self.metrics.limited.labels(limit="uploads").inc()
            return (f"You have added {added} documents in the last 24 hours; at most "
                    f"{per_day} are allowed per day.")
        storage = int(self.settings.user_storage_mb * MB)
        if storage and kept + size > storage:
            self.metrics.limited.labels(limit="storage").inc()
            return (f"Your uploads would take {(kept + size) / MB:,.1f} MB, above your "
                    f"{self.settings.user_storage_mb:g} MB. Delete a collection first.")
        return None

    def imported(self, owner: str, size: int) -> str | None:
        """None, counting it, if `owner` may import a conversation of `size` bytes now: an
        import is one document added per day (USER_UPLOADS_PER_DAY), or a script could fill
        the database with conversations no limit counted."""
        per_day = self.settings.user_uploads_per_day
        now = time.time()
        if per_day:
            added, _ = self.store.upload_usage(owner, now - DAY_S)
            added += self._imports_since(owner, now - DAY_S)
            if added + 1 > per_day:
                self.metrics.limited.labels(limit="uploads").inc()
                return (f"You have added {added} documents or conversations in the last 24 "
                        f"hours; at most {per_day} are allowed per day.")
        self.store.write("INSERT INTO imports (owner, at, bytes) VALUES (?, ?, ?)",
                         (owner, now, size))
        return None

    def _imports_since(self, owner: str, since: float) -> int:
        rows = self.store.read("SELECT COUNT(*) FROM imports WHERE owner = ? AND at >= ?",
                               (owner, since))
        return int(rows[0][0])
