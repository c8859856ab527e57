"""Documents added from the page, ingested in the background by a few workers shared fairly
between users (jobs.py), each job reporting to the owner (browser or user) that added it and
cancellable by them; a URL document fetched again as a job of its own. Listing, deleting and
removing (collections, documents) is collection_admin.py's, a mixin.

The job's `ingest` events go to every tab of that owner:
    {"job", "state": "queued" | "running" | "progress" | "done" | "failed" | "cancelled",
     "collection", "names", plus "documents_done", "chunks_done", "source" while running and
     "summary", "skipped", "text" at the end}
`skipped` names every file (and crawled page) not read, with the reason: those the upload
did not store (their kind, no bytes, too large) and those rag skipped.

Who may write into a collection is checked where the write happens, as the job opens it
(rag creates a missing collection and records its owner in one step): a check when the job
is queued only says whether to queue it, since another user may create that name meanwhile.

Uploaded files are kept by chatbot/documents/upload_store.py while a document or job needs them.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from werkzeug.datastructures import FileStorage

from chatbot.accounts.viewer import Viewer
from chatbot.common import Emit, browser_room
from chatbot.db.store import Store
from chatbot.documents.collection_admin import CollectionAdmin
from chatbot.documents.jobs import Job, JobQueue
from chatbot.documents.library import ATTACHMENTS_PREFIX, Library, conversation_of, display_name
from chatbot.documents.upload_store import UploadStore
from chatbot.errors import Refused
from chatbot.metrics import Metrics
from chatbot.settings import Settings
from rag import Cancelled, Failure, NoCollection, Progress, RagError, Skipped, Summary

log = logging.getLogger("chatbot.documents.ingests")

__all__ = ["Ingests"]

# A job's work: given its progress callback and its cancel event, what it added.
Work = Callable[[Callable[[Progress], None], threading.Event], Summary]


class Ingests(CollectionAdmin):
    """Ingestion jobs, a few at a time and fairly between users, each reporting to its
    browser."""

    def __init__(self, settings: Settings, library: Library, store: Store, metrics: Metrics,
                 emit: Emit):
        self.settings = settings
        self.store = store
        self.library = library
        self.metrics = metrics
        self.emit = emit
        self.jobs = JobQueue(settings.ingest_workers)
        self.uploads = UploadStore(library.uploads_dir, library.rag,
                                   max_files=settings.upload_max_files,
                                   max_bytes=settings.upload_max_bytes,
                                   max_mb=settings.upload_max_mb)
        # Who started each queued or running job, and its `ingest` payload's base.
        self._owners: dict[str, tuple[Viewer, dict[str, Any]]] = {}
        # Collections with a queued or running ingestion, counted: deleting one under a
        # running ingestion would leave it writing into a collection that is gone.
        self._busy: Counter[str] = Counter()
        self._busy_lock = threading.Lock()

    def submit(self, viewer: Viewer, collection: str, sources: list[str],
               crawl: bool = False, skipped: list[dict[str, str]] | None = None) -> str:
        """Queue ingesting `sources`; `skipped`: files of the upload not stored
        ({"name", "reason"}), named again in the job's result."""
        def work(progress: Callable[[Progress], None], cancel: threading.Event) -> Summary:
            return self.library.ingest(
                sources, collection, owner=viewer.collection_owner,
                may_write=viewer.can_change, cancel=cancel,
                crawl_depth=1 if crawl else None,
                max_pages=self.settings.crawl_max_pages, progress=progress)

        return self._queue(viewer, collection, sources, work, skipped or [])

    def _queue(self, viewer: Viewer, collection: str, sources: list[str], work: Work,
               skipped: list[dict[str, str]] | None = None) -> str:
        job_id = uuid.uuid4().hex[:12]
        names = [display_name(s) for s in sources]
        base = {"job": job_id, "collection": collection, "names": names}
        self._tell(viewer.key, {**base, "state": "queued"})
        self.library.warm_up()
        with self._busy_lock:
            self._busy[collection] += 1
            self._owners[job_id] = (viewer, base)

        upfront = skipped or []

        def dropped(_: Job) -> None:
            self._ended(viewer, base, sources, {"state": "cancelled", "skipped": upfront,
                                                "text": "Cancelled before it started."})

        self.jobs.submit(Job(job_id, viewer.key, collection,
                             lambda job: self._run(viewer, base, sources, work, job.cancel,
                                                   upfront),
                             dropped))
        return job_id

    def cancel(self, job_id: str, viewer: Viewer) -> str | None:
        """Cancel a queued or running job of `viewer`'s (an admin: anyone's); why not, if it
        was not. Another user's job is answered as unknown, like one that never existed."""
        with self._busy_lock:
            owner = self._owners.get(job_id)
        mine = owner is not None and viewer.can_cancel(owner[0].key)
        if not mine or not self.jobs.cancel(job_id):
            return "Could not cancel: no such job (it may have finished)."
        return None

    def running_jobs(self, viewer: Viewer) -> list[dict[str, Any]]:
        """The queued and running jobs `viewer` may cancel (an admin: all), for the operator:
        {"job", "collection", "names", "state", "user"}."""
        with self._busy_lock:
            owners = dict(self._owners)
        everyone = viewer.sees_all_jobs()
        return [{**owners[j.id][1], "state": "running" if j.running else "queued",
                 "user": owners[j.id][0].name}
                for j in self.jobs.jobs()
                if j.id in owners and (everyone or owners[j.id][0].key == viewer.key)]

    def may_add(self, collection: str, viewer: Viewer) -> None:
        """Raises Refused unless `viewer` may add to `collection` (or create it) now: to
        refuse early. The job checks again as it writes (see rag's `may_write`). A
        conversation's attachments go only to that conversation, the viewer's own."""
        conversation = conversation_of(collection)
        if conversation is not None and self.store.get(viewer.key, conversation) is None:
            raise Refused(f"Names starting with {ATTACHMENTS_PREFIX!r} hold a conversation's "
                          "attached files: choose another name.")
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

    def refetch(self, collection: str, document: str, viewer: Viewer) -> str | None:
        """Queue fetching a URL document again, reported as an ingestion job; why not."""
        source, problem = self._changeable(collection, document, viewer, "fetch it again")
        if source is None:
            return problem
        if urlsplit(source).scheme not in ("http", "https"):
            return f"Could not fetch {display_name(source)} again: it is not a URL."

        def work(progress: Callable[[Progress], None], cancel: threading.Event) -> Summary:
            return self.library.refetch(collection, source, progress,
                                        may_write=viewer.can_change, cancel=cancel)

        self._queue(viewer, collection, [source], work)
        return None

    def _tell(self, owner: str, payload: dict[str, Any]) -> None:
        self.emit("ingest", payload, browser_room(owner))

    def _run(self, viewer: Viewer, base: dict[str, Any], sources: list[str], work: Work,
             cancel: threading.Event, upfront: list[dict[str, str]]) -> None:
        final: dict[str, Any] = {"state": "failed", "skipped": upfront,
                                 "text": "Nothing was added: the ingestion failed unexpectedly."}
        try:
            final = self._ingest(viewer, base, work, cancel, upfront)
        finally:
            self._ended(viewer, base, sources, final)

    def _ended(self, viewer: Viewer, base: dict[str, Any], sources: list[str],
               final: dict[str, Any]) -> None:
        # Released before the browser hears the outcome, so a delete it sends on hearing it
        # is not refused.
        with self._busy_lock:
            self._busy[base["collection"]] -= 1
            self._owners.pop(base["job"], None)
        try:
            self.uploads.finished(sources)  # a failed job's files are not kept
        except Exception:
            log.exception("could not release the job's uploads")
        conversation = conversation_of(base["collection"])
        orphaned = conversation is not None and self.store.get(viewer.key, conversation) is None
        if orphaned:
            # Files attached to a conversation deleted while they were being read: gone
            # before the pages hear the job ended.
            self.forget_attachments(conversation, viewer)
        self._tell(viewer.key, {**base, **final})
        if not orphaned and final["state"] in ("done", "cancelled"):
            self.changed(viewer)

    def _ingest(self, viewer: Viewer, base: dict[str, Any], work: Work,
                cancel: threading.Event, upfront: list[dict[str, str]]) -> dict[str, Any]:
        """Runs one job; its final state for the owner's pages."""
        self._tell(viewer.key, {**base, "state": "running"})

        def progress(p: Progress) -> None:
            self._tell(viewer.key, {**base, "state": "progress", "source": display_name(
                p.source), "status": p.status, "documents_done": p.documents_done,
                "chunks_done": p.chunks_done})

        try:
            summary = work(progress, cancel)
        except Cancelled as exc:
            self.metrics.ingests.labels(outcome="cancelled").inc()
            return {"state": "cancelled", "summary": self._public(exc.summary),
                    "skipped": [*upfront, *self._skipped(exc.summary)],
                    "text": f"Cancelled: {exc}."}
        except RagError as exc:
            self.metrics.ingests.labels(outcome="failed").inc()
            return {"state": "failed", "skipped": upfront,
                    "text": f"Nothing was added: {exc}"}
        except Exception:
            log.exception("ingest failed")
            self.metrics.ingests.labels(outcome="failed").inc()
            return {"state": "failed", "skipped": upfront,
                    "text": "Nothing was added: the ingestion failed unexpectedly."}
        self.metrics.ingests.labels(outcome="done" if summary.ok else "partial").inc()
        for outcome, documents in (("added", summary.added), ("replaced", summary.replaced),
                                   ("unchanged", summary.unchanged),
                                   ("failed", summary.failed), ("skipped", summary.skipped)):
            self.metrics.ingested_documents.labels(outcome=outcome).inc(len(documents))
        self.metrics.ingested_chunks.inc(summary.chunks)
        # The Documents panel lists them too, under "Not added", once the job is forgotten.
        try:
            self.library.rag.note_not_read(base["collection"], [
                Failure(f["name"], f["reason"]) for f in upfront])
        except RagError:
            log.warning("could not keep the files not read of %s", base["collection"])
        skipped = [*upfront, *self._skipped(summary)]
        return {"state": "done", "summary": self._public(summary), "skipped": skipped,
                "text": self.describe(summary, base["collection"], upfront)}

    def _skipped(self, summary: Summary) -> list[dict[str, str]]:
        return [{"name": display_name(f.source), "reason": f.reason}
                for f in summary.skipped]

    def _public(self, summary: Summary) -> dict[str, Any]:
        def failures(items: list) -> list[dict[str, str]]:
            return [{"source": display_name(f.source), "reason": f.reason} for f in items]

        return {"chunks": summary.chunks, "added": len(summary.added),
                "replaced": len(summary.replaced), "unchanged": len(summary.unchanged),
                "failed": failures(summary.failed), "skipped": failures(summary.skipped)}

    def describe(self, summary: Summary, collection: str,
                 upfront: list[dict[str, str]] | None = None) -> str:
        """The job's outcome in a few sentences; every file not read is named with why."""
        documents = len(summary.added) + len(summary.replaced)
        parts = ([f"Added {summary.chunks} chunks from {documents} "
                  f"document{'' if documents == 1 else 's'} to “{collection}”."]
                 if summary.stored else [f"Nothing was added to “{collection}”."])
        if summary.unchanged:
            parts.append(f"{len(summary.unchanged)} already there, unchanged.")
        if summary.failed:
            parts.append("Failed: " + "; ".join(
                f"{display_name(f.source)} ({f.reason})" for f in summary.failed) + ".")
        files = [*(upfront or []), *({"name": display_name(f.source), "reason": f.reason}
                                     for f in summary.skipped if isinstance(f, Skipped))]
        if files:
            parts.append("Not read: " + "; ".join(
                f"{f['name']} ({f['reason']})" for f in files) + ".")
        pages = [f for f in summary.skipped if not isinstance(f, Skipped)]
        if pages:
            parts.append(f"{len(pages)} skipped (robots.txt or the page limit).")
        return " ".join(parts)

    # Storing uploads ------------------------------------------------------------------

    def store_files(self, files: list[FileStorage], collection: str
                    ) -> tuple[list[str], list[dict[str, str]]]:
        """Store the files that can be added (upload_store.py), and name the others with
        why ({"name", "reason"}); refused when none can. Kept until the job they are
        submitted with ends, then as long as a collection has them."""
        try:
            self.library.rag.collection(collection)  # NoCollection: a new one
            held = {d.source for d in self.library.documents(collection)}
        except NoCollection:
            held = set()
        except RagError as exc:
            raise Refused(f"Nothing can be added now: {exc}", 503) from None
        return self.uploads.store(files, held)
