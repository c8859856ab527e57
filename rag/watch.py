"""A folder kept in sync with a collection: `rag watch DIR --collection NAME`, and the
chatbot's RAG_WATCH.

Polling, not filesystem events: inotify says nothing about changes made by another machine
on a network share or, on some hosts, through a container's bind mount, and a folder of a
few thousand files costs one `stat` each per round. Each round compares the folder with what
it was; a new or changed file is ingested once it has stopped changing (the same size and
time on two rounds in a row, so a file still being copied is not read half-written), a
vanished one is removed from the collection. The first round compares the folder with the
collection itself: what changed or was deleted while nothing watched is caught up, so a
watch survives restarts without a state file of its own (ingestion's content hash skips
the files that did not change).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag.api import Rag
from rag.documents import Summary
from rag.errors import NoCollection, RagError

log = logging.getLogger("rag.watch")

# What identifies a version of a file without reading it.
Stamp = tuple[int, int]  # (st_mtime_ns, st_size)


@dataclass
class Round:
    """What one round did: files ingested (the summary says added, replaced or unchanged)
    and sources removed from the collection."""

    summary: Summary = field(default_factory=Summary)
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        s = self.summary
        return not (s.added or s.replaced or s.failed or self.removed)


def snapshot(folder: Path) -> dict[str, Stamp]:
    """The readable files under `folder` that rag can ingest (hidden ones skipped, as `rag
    ingest` skips them), by the source name ingestion gives them."""
    from rag import SUPPORTED_EXTENSIONS  # the loaders load on first use, not on import

    files: dict[str, Stamp] = {}
    for path in folder.rglob("*"):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
            continue
        try:
            if not path.is_file():
                continue
            stat = path.stat()
        except OSError:  # deleted between listing and stat: next round sees it gone
            continue
        files[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return files


class FolderWatch:
    """Keeps `collection` in step with the supported files under `folder`. owner/shared:
    the access of the collection if this watch creates it."""

    def __init__(self, rag: Rag, folder: Path, collection: str, *, owner: str | None = None,
                 shared: bool = False) -> None:
        self.rag = rag
        self.folder = folder.expanduser().resolve()
        self.collection = collection
        self.owner = owner
        self.shared = shared
        self._seen: dict[str, Stamp] | None = None  # None until the first round
        self._pending: dict[str, Stamp] = {}  # changed last round, not yet settled

    def check(self) -> Round:
        """One round. Raises RagError if the folder is gone or the store cannot be reached
        (the next round tries again)."""
        if not self.folder.is_dir():
            raise RagError(f"{self.folder} is not a folder (or cannot be read)")
        now = snapshot(self.folder)
        if self._seen is None:
            ingest, gone = sorted(now), self._stored_but_gone(now)
        else:
            ingest = self._settled(now)
            gone = sorted(set(self._seen) - set(now))
        done = Round()
        if ingest:
            done.summary = self.rag.ingest(ingest, self.collection, owner=self.owner,
                                           shared=self.shared, job_deadline=None)
        for source in gone:
            try:
                self.rag.remove_document(self.collection, source)
                done.removed.append(source)
            except RagError:  # never ingested (it failed) or removed by hand meanwhile
                pass
        # A file that failed is retried when it changes again, not every round.
        self._seen = {path: stamp for path, stamp in now.items()
                      if path not in self._pending}
        return done

    def _settled(self, now: dict[str, Stamp]) -> list[str]:
        """Files new or changed since they were last ingested and unchanged since the
        previous round; those still changing wait in _pending."""
        assert self._seen is not None
        changed = {path: stamp for path, stamp in now.items() if self._seen.get(path) != stamp}
        ready = sorted(path for path, stamp in changed.items()
                       if self._pending.get(path) == stamp)
        self._pending = {path: stamp for path, stamp in changed.items() if path not in ready}
        return ready

    def _stored_but_gone(self, now: dict[str, Stamp]) -> list[str]:
        """Sources of the collection under this folder whose file is no longer there."""
        try:
            stored = self.rag.documents(self.collection)
        except NoCollection:
            return []
        return sorted(d.source for d in stored
                      if d.source not in now and _is_under(d.source, self.folder))

    def run(self, stop: threading.Event, interval: float,
            report: Callable[[Round], None]) -> None:
        """Rounds every `interval` seconds until `stop` is set; a failed round is logged
        and the next one tries again."""
        while not stop.is_set():
            try:
                done = self.check()
            except RagError as e:
                log.warning("watching %s: %s", self.folder, e)
            else:
                if not done.empty:
                    report(done)
            stop.wait(interval)


def _is_under(source: str, folder: Path) -> bool:
    path = Path(source)
    return path.is_absolute() and path.is_relative_to(folder)


def describe(done: Round) -> list[str]:
    """One line per change, as `rag watch` prints them."""
    s = done.summary
    lines = [f"added {source}" for source in s.added]
    lines += [f"updated {source}" for source in s.replaced]
    lines += [f"failed {f.source}: {f.reason}" for f in s.failed]
    lines += [f"removed {source}" for source in done.removed]
    return lines
