"""Work on the documents that no user asked for: the folders of RAG_WATCH kept in step with
their collections, and the URL sources fetched again every RAG_REFETCH_HOURS.

One process does it, whichever first takes an exclusive lock on DATA_DIR/maintenance.lock:
instances sharing a DATA_DIR would otherwise ingest every change twice. The others try again
every minute, so one takes over when the holder stops (the kernel drops a dead process's
lock). Each job runs in its own daemon thread: a slow site being fetched again must not hold
up a watched folder."""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from pathlib import Path
from typing import IO

from chatbot.documents.library import Library
from chatbot.settings import Settings
from rag import FolderWatch, RagError, WatchRound, describe_watch

log = logging.getLogger("chatbot.documents.maintenance")

WATCH_INTERVAL_S = 5.0
LOCK_RETRY_S = 60.0
LAST_REFETCH = "last_refetch"  # in DATA_DIR: when the last scheduled refetch started


class Maintenance:
    def __init__(self, settings: Settings, library: Library) -> None:
        self.library = library
        self.data_dir = settings.data_dir
        self.folders = settings.watched_folders
        self.refetch_s = settings.rag_refetch_hours * 3600
        self.stop = threading.Event()
        self._lock_file: IO[bytes] | None = None

    def start(self) -> None:
        if not self.folders and not self.refetch_s:
            return
        threading.Thread(target=self._run, name="documents-maintenance", daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock for another instance

    def _run(self) -> None:
        while not self._take_lock():
            if self.stop.wait(LOCK_RETRY_S):
                return
        log.info("maintaining documents: %d watched folders, refetch every %s",
                 len(self.folders),
                 f"{self.refetch_s / 3600:g} h" if self.refetch_s else "never")
        for folder, collection in self.folders:
            watch = FolderWatch(self.library.rag, folder, collection)
            threading.Thread(target=watch.run, args=(self.stop, WATCH_INTERVAL_S, _report),
                             name=f"watch-{collection}", daemon=True).start()
        if self.refetch_s:
            threading.Thread(target=self._refetch_loop, name="refetch", daemon=True).start()

    def _take_lock(self) -> bool:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock_file = (self.data_dir / "maintenance.lock").open("wb")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            return False
        self._lock_file = lock_file
        return True

    def _refetch_loop(self) -> None:
        stamp = self.data_dir / LAST_REFETCH
        while not self.stop.is_set():
            due = _last_run(stamp) + self.refetch_s
            if self.stop.wait(max(0.0, due - time.time())):
                return
            stamp.write_text(str(time.time()))
            self.refetch_all()

    def refetch_all(self) -> tuple[int, int, int]:
        """Every URL source of every collection fetched again; (changed, unchanged, failed)."""
        changed = unchanged = failed = 0
        rag = self.library.rag
        try:
            collections = [info.name for info in rag.collections()]
        except RagError as e:
            log.warning("scheduled refetch: %s", e)
            return 0, 0, 0
        for collection in collections:
            try:
                sources = [d.source for d in rag.documents(collection) if d.kind == "url"]
            except RagError as e:
                log.warning("scheduled refetch of %s: %s", collection, e)
                continue
            for source in sources:
                if self.stop.is_set():
                    return changed, unchanged, failed
                try:
                    summary = rag.refetch(collection, source, cancel=self.stop,
                                          **self.library.url_rules)
                except RagError as e:  # removed meanwhile, or the store went away
                    log.warning("scheduled refetch of %s: %s", source, e)
                    failed += 1
                    continue
                changed += len(summary.replaced) + len(summary.added)
                unchanged += len(summary.unchanged)
                for failure in summary.failed:
                    log.warning("scheduled refetch of %s failed: %s", failure.source,
                                failure.reason)
                failed += len(summary.failed)
        log.info("scheduled refetch: %d changed, %d unchanged, %d failed",
                 changed, unchanged, failed)
        return changed, unchanged, failed


def _last_run(stamp: Path) -> float:
    """When the last scheduled refetch started; never (0) if unknown or unreadable."""
    try:
        return float(stamp.read_text())
    except (OSError, ValueError):
        return 0.0


def _report(done: WatchRound) -> None:
    for line in describe_watch(done):
        log.info("watched folder: %s", line)
