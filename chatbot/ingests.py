"""Documents added from the page, ingested in the background one job at a time, each job
reporting to the owner (browser or user) that added it; the collections listed and deleted;
a collection's documents listed, removed, and (URLs) fetched again as a job of their own.

The job's `ingest` events go to every tab of that owner:
    {"job", "state": "queued" | "running" | "progress" | "done" | "failed", "collection",
     "names", plus "documents_done", "chunks_done", "source" while running and "summary",
     "text" at the end}
and when a collection changes, with accounts off every page is sent the new `collections`
listing; with accounts on the owner's pages are, and every other page is sent
`collections_changed` to ask for its own (a listing shows only what its reader may read).

Uploaded files are stored as uploads/<sha256 of the content>/<sanitized name>: the client's
file name is never used as a path, and the same file uploaded again is the same source, so
re-ingesting it replaces its chunks rather than duplicating them.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask_socketio import SocketIO
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from chatbot.accounts import Viewer
from chatbot.common import browser_room
from chatbot.library import Library, document_id
from chatbot.metrics import Metrics
from chatbot.settings import Settings
from chatbot.store import Store
from rag import SUPPORTED_EXTENSIONS, NoCollection, Progress, RagError, Summary

log = logging.getLogger("chatbot.ingests")

COPY_CHUNK = 1024 * 1024


class Refused(Exception):
    """An upload or URL this server will not take; the message says why, for the user."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Ingests:
    """Ingestion jobs, one at a time (rag ingests one collection writer at a time, and two
    embedding runs would only share the same 2 cores), each reporting to its browser."""

    def __init__(self, settings: Settings, library: Library, store: Store, metrics: Metrics,
                 socketio: SocketIO):
        self.settings = settings
        self.store = store
        self.library = library
        self.metrics = metrics
        self.socketio = socketio
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")
        # Collections with a queued or running ingestion, counted: deleting one under a
        # running ingestion would leave it writing into a collection that is gone.
        self._busy: Counter[str] = Counter()
        self._busy_lock = threading.Lock()

    def submit(self, viewer: Viewer, collection: str, sources: list[str],
               crawl: bool = False) -> str:
        def work(progress: Callable[[Progress], None]) -> Summary:
            return self.library.ingest(
                sources, collection, owner=viewer.collection_owner,
                crawl_depth=1 if crawl else None,
                max_pages=self.settings.crawl_max_pages, progress=progress)

        return self._queue(viewer, collection, sources, work)

    def _queue(self, viewer: Viewer, collection: str, sources: list[str],
               work: Callable[[Callable[[Progress], None]], Summary]) -> str:
        job = uuid.uuid4().hex[:12]
        names = [self.display_name(s) for s in sources]
        base = {"job": job, "collection": collection, "names": names}
        self._tell(viewer.key, {**base, "state": "queued"})
        self.library.warm_up()
        with self._busy_lock:
            self._busy[collection] += 1
        self._pool.submit(self._run, viewer, base, work)
        return job

    def may_add(self, collection: str, viewer: Viewer) -> None:
        """Raises Refused unless `viewer` may add to `collection` (or create it)."""
        try:
            info = self.library.rag.collection(collection)
        except NoCollection:
            return  # a new collection: it will be theirs
        except RagError as exc:  # the store cannot be reached: nothing can be added now
            raise Refused(f"Nothing can be added now: {exc}", 503) from None
        if not viewer.can_change(info.owner):
            raise Refused(f"The collection name “{collection}” is taken by another user; "
                          "choose another name.", 403)

    def busy(self, collection: str) -> bool:
        with self._busy_lock:
            return self._busy[collection] > 0

    def delete(self, collection: str, viewer: Viewer) -> str | None:
        """Delete a collection and show the pages the new listing; why not, if it was not."""
        info = self.library.find(collection, viewer)
        if info is None:
            return f"Could not delete `{collection}`: no such collection."
        if not viewer.can_change(info.owner):
            return (f"Could not delete `{collection}`: only its owner"
                    f"{'' if info.owner is None else ' or an admin'} can.")
        if self.busy(collection):
            return (f"Could not delete `{collection}`: documents are still being added to "
                    "it. Try again when that has finished.")
        try:
            self.library.delete(collection)
        except RagError as exc:
            return f"Could not delete `{collection}`: {exc}"
        self.store.forget_collection(collection)
        self.changed(viewer)
        return None

    # One collection's documents ------------------------------------------------------

    def documents(self, collection: str, viewer: Viewer) -> dict[str, Any]:
        """The `documents` event's payload: what the page lists for a collection `viewer`
        may read (one it may not is answered as absent)."""
        base: dict[str, Any] = {"collection": collection, "documents": []}
        info = self.library.find(collection, viewer)
        if info is None:
            return {**base, "error": f"No collection “{collection}”."}
        try:
            found = self.library.documents(collection)
        except RagError as exc:
            return {**base, "error": f"Could not list the documents: {exc}"}
        return {**base, "can_change": viewer.can_change(info.owner), "documents": [
            {"id": document_id(d.source), "name": self.display_name(d.source),
             "title": d.title, "url": self.library.link(d.source), "kind": d.kind,
             "chunks": d.chunks, "added": d.added, "ocr_pages": list(d.ocr_pages)}
            for d in found]}

    def _changeable(self, collection: str, document: str, viewer: Viewer,
                    doing: str) -> tuple[str | None, str]:
        """(the stored source, "") for a document `viewer` may change, else (None, why)."""
        info = self.library.find(collection, viewer)
        if info is None:
            return None, f"Could not {doing}: no collection “{collection}”."
        if not viewer.can_change(info.owner):
            return None, (f"Could not {doing}: only the owner of “{collection}”"
                          f"{'' if info.owner is None else ' or an admin'} can.")
        if self.busy(collection):
            return None, (f"Could not {doing}: documents are still being added to "
                          f"“{collection}”. Try again when that has finished.")
        try:
            sources = [d.source for d in self.library.documents(collection)]
        except RagError as exc:
            return None, f"Could not {doing}: {exc}"
        source = next((s for s in sources if document_id(s) == document), None)
        if source is None:
            return None, f"Could not {doing}: it is no longer in “{collection}”."
        return source, ""

    def remove_document(self, collection: str, document: str, viewer: Viewer) -> str | None:
        """Remove a document (by its `id` in the listing); why not, if it was not."""
        source, problem = self._changeable(collection, document, viewer, "remove the document")
        if source is None:
            return problem
        try:
            self.library.remove_document(collection, source)
        except RagError as exc:
            return f"Could not remove {self.display_name(source)}: {exc}"
        self.socketio.emit("documents", self.documents(collection, viewer),
                           to=browser_room(viewer.key))
        self.changed(viewer)
        return None

    def refetch(self, collection: str, document: str, viewer: Viewer) -> str | None:
        """Queue fetching a URL document again, reported as an ingestion job; why not."""
        source, problem = self._changeable(collection, document, viewer, "fetch it again")
        if source is None:
            return problem
        if urlsplit(source).scheme not in ("http", "https"):
            return f"Could not fetch {self.display_name(source)} again: it is not a URL."

        def work(progress: Callable[[Progress], None]) -> Summary:
            return self.library.refetch(collection, source, progress)

        self._queue(viewer, collection, [source], work)
        return None

    def changed(self, viewer: Viewer) -> None:
        """Show the pages a collection changed."""
        if viewer.name is None:
            self.socketio.emit("collections", self.listing(viewer))
            return
        self.socketio.emit("collections", self.listing(viewer), to=browser_room(viewer.key))
        self.socketio.emit("collections_changed", {})

    def display_name(self, source: str) -> str:
        return source if urlsplit(source).scheme in ("http", "https") else Path(source).name

    def _tell(self, owner: str, payload: dict[str, Any]) -> None:
        self.socketio.emit("ingest", payload, to=browser_room(owner))

    def _run(self, viewer: Viewer, base: dict[str, Any],
             work: Callable[[Callable[[Progress], None]], Summary]) -> None:
        try:
            final = self._ingest(viewer, base, work)
        finally:
            # Released before the browser hears the outcome, so a delete it sends on
            # hearing it is not refused.
            with self._busy_lock:
                self._busy[base["collection"]] -= 1
        self._tell(viewer.key, {**base, **final})
        if final["state"] == "done":
            self.changed(viewer)

    def _ingest(self, viewer: Viewer, base: dict[str, Any],
                work: Callable[[Callable[[Progress], None]], Summary]) -> dict[str, Any]:
        """Runs one job; its final state for the owner's pages."""
        self._tell(viewer.key, {**base, "state": "running"})

        def progress(p: Progress) -> None:
            self._tell(viewer.key, {**base, "state": "progress", "source": self.display_name(
                p.source), "status": p.status, "documents_done": p.documents_done,
                "chunks_done": p.chunks_done})

        try:
            summary = work(progress)
        except RagError as exc:
            self.metrics.ingests.labels(outcome="failed").inc()
            return {"state": "failed", "text": f"Nothing was added: {exc}"}
        except Exception:
            log.exception("ingest failed")
            self.metrics.ingests.labels(outcome="failed").inc()
            return {"state": "failed",
                    "text": "Nothing was added: the ingestion failed unexpectedly."}
        self.metrics.ingests.labels(outcome="done" if summary.ok else "partial").inc()
        for outcome, documents in (("added", summary.added), ("replaced", summary.replaced),
                                   ("unchanged", summary.unchanged),
                                   ("failed", summary.failed), ("skipped", summary.skipped)):
            self.metrics.ingested_documents.labels(outcome=outcome).inc(len(documents))
        self.metrics.ingested_chunks.inc(summary.chunks)
        return {"state": "done", "summary": self._public(summary),
                "text": self.describe(summary, base["collection"])}

    def _public(self, summary: Summary) -> dict[str, Any]:
        def failures(items: list) -> list[dict[str, str]]:
            return [{"source": self.display_name(f.source), "reason": f.reason} for f in items]

        return {"chunks": summary.chunks, "added": len(summary.added),
                "replaced": len(summary.replaced), "unchanged": len(summary.unchanged),
                "failed": failures(summary.failed), "skipped": failures(summary.skipped)}

    def describe(self, summary: Summary, collection: str) -> str:
        documents = len(summary.added) + len(summary.replaced)
        parts = [f"Added {summary.chunks} chunks from {documents} "
                 f"document{'' if documents == 1 else 's'} to “{collection}”."]
        if summary.unchanged:
            parts.append(f"{len(summary.unchanged)} already there, unchanged.")
        if summary.failed:
            parts.append("Failed: " + "; ".join(
                f"{self.display_name(f.source)} ({f.reason})" for f in summary.failed) + ".")
        if summary.skipped:
            parts.append(f"{len(summary.skipped)} skipped (robots.txt or the page limit).")
        return " ".join(parts)

    def listing(self, viewer: Viewer) -> dict[str, Any]:
        try:
            found = self.library.collections(viewer)
        except RagError as exc:
            return {"collections": [], "error": str(exc),
                    "default": viewer.default_collection(self.settings.rag_collection)}
        return {"collections": found,
                "default": viewer.default_collection(self.settings.rag_collection),
                "accounts": viewer.name is not None,
                "can_share": viewer.name is not None and viewer.admin}

    # Storing uploads ------------------------------------------------------------------

    def store_files(self, files: list[FileStorage]) -> list[str]:
        """Check every file, then store them; any refusal refuses the whole upload."""
        limit = self.settings.upload_max_bytes
        if not files:
            raise Refused("Choose at least one file.")
        if len(files) > self.settings.upload_max_files:
            raise Refused(f"{len(files)} files at once; at most "
                          f"{self.settings.upload_max_files} per upload.")
        for f in files:
            if Path(f.filename or "").suffix.lower() not in SUPPORTED_EXTENSIONS:
                raise Refused(f"{_shown(f)}: only PDF, HTML, Markdown and text files "
                              f"({', '.join(sorted(SUPPORTED_EXTENSIONS))}) can be added.")
        stored: list[str] = []
        for f in files:
            stored.append(str(self._store(f, limit)))
        return stored

    def _store(self, upload: FileStorage, limit: int) -> Path:
        uploads = self.library.uploads_dir
        uploads.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with tempfile.NamedTemporaryFile(dir=uploads, prefix=".part-", delete=False) as out:
            try:
                while piece := upload.stream.read(COPY_CHUNK):
                    size += len(piece)
                    if size > limit:
                        raise Refused(f"{_shown(upload)} is larger than the "
                                      f"{self.settings.upload_max_mb:g} MB limit.", 413)
                    digest.update(piece)
                    out.write(piece)
            except BaseException:
                Path(out.name).unlink(missing_ok=True)
                raise
        if size == 0:
            Path(out.name).unlink(missing_ok=True)
            raise Refused(f"{_shown(upload)} is empty.")
        folder = uploads / digest.hexdigest()[:32]
        suffix = Path(upload.filename or "").suffix.lower()
        name = (secure_filename(Path(upload.filename or "").stem)[:80] or "upload") + suffix
        existing = sorted(folder.glob("*")) if folder.is_dir() else []
        if existing:  # the same bytes under another name: one source, not two
            Path(out.name).unlink(missing_ok=True)
            return existing[0]
        folder.mkdir(exist_ok=True)
        target = folder / name
        shutil.move(out.name, target)
        return target


def _shown(upload: FileStorage) -> str:
    """The client's file name, for messages only (never a path)."""
    return Path((upload.filename or "file").replace("\\", "/")).name[:100] or "file"
