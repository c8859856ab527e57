"""Adding documents from the page: file uploads and URLs into a collection, ingested in the
background with progress pushed over Socket.IO; collections listed and deleted.

HTTP (the page's own origin only: cookies identify the user, so a cross-site form must not
be able to post here):
    POST /documents/files   multipart `files` (one or more) and `collection`
    POST /documents/url     form or JSON: `url`, `collection`, `crawl` (follow links one
                            level, at most RAG_CRAWL_MAX_PAGES pages)
Both answer 202 {"job": id} or 4xx {"error": "readable reason"}.

Socket.IO: the job's `ingest` events go to every tab of the uploading browser:
    {"job", "state": "queued" | "running" | "progress" | "done" | "failed", "collection",
     "names", plus "documents_done", "chunks_done", "source" while running and "summary",
     "text" at the end}
and `collections` (client asks with {}, or after `delete_collection` {"name"}) lists them.

Uploaded files are stored as uploads/<sha256 of the content>/<sanitized name>: the client's
file name is never used as a path, and the same file uploaded again is the same source, so
re-ingesting it replaces its chunks rather than duplicating them. URLs obey the address rules
of rag's fetcher (no loopback, private, link-local or metadata addresses, checked after DNS
and on every redirect) plus RAG_URL_ALLOWLIST.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, jsonify, request, session
from flask_socketio import SocketIO, emit
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import secure_filename

from chatbot.grounding import Grounding
from chatbot.metrics import Metrics
from chatbot.services import services
from chatbot.settings import Settings
from chatbot.sockets import browser_room
from rag import SUPPORTED_EXTENSIONS, FetchError, Progress, RagError, Summary

log = logging.getLogger("chatbot.uploads")

bp = Blueprint("documents", __name__)

# Chroma's own rule for collection names, checked here to say it in words.
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")
COPY_CHUNK = 1024 * 1024
# Multipart framing and the form fields around the files.
FORM_OVERHEAD = 1024 * 1024


class Refused(Exception):
    """An upload or URL this server will not take; the message says why, for the user."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def init_app(app: Flask, socketio: SocketIO, settings: Settings, grounding: Grounding,
             metrics: Metrics) -> None:
    # Werkzeug refuses a larger Content-Length at once and stops reading a body past it.
    app.config["MAX_CONTENT_LENGTH"] = (settings.upload_max_files * settings.upload_max_bytes
                                        + FORM_OVERHEAD)
    app.extensions["ingests"] = Ingests(settings, grounding, metrics, socketio)
    app.register_blueprint(bp)
    socketio.on("collections")(_list_collections)
    socketio.on("delete_collection")(_delete_collection)


class Ingests:
    """Ingestion jobs, one at a time (rag ingests one collection writer at a time, and two
    embedding runs would only share the same 2 cores), each reporting to its browser."""

    def __init__(self, settings: Settings, grounding: Grounding, metrics: Metrics,
                 socketio: SocketIO):
        self.settings = settings
        self.grounding = grounding
        self.metrics = metrics
        self.socketio = socketio
        self.uploads_dir = grounding.uploads_dir
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")
        # Collections with a queued or running ingestion, counted: deleting one under a
        # running ingestion would leave it writing into a collection that is gone.
        self._busy: Counter[str] = Counter()
        self._busy_lock = threading.Lock()

    def submit(self, browser: str, collection: str, sources: list[str],
               crawl: bool = False) -> str:
        job = uuid.uuid4().hex[:12]
        names = [self.display_name(s) for s in sources]
        base = {"job": job, "collection": collection, "names": names}
        self._tell(browser, {**base, "state": "queued"})
        self.grounding.warm_up()
        with self._busy_lock:
            self._busy[collection] += 1
        self._pool.submit(self._run, browser, base, sources, crawl)
        return job

    def busy(self, collection: str) -> bool:
        with self._busy_lock:
            return self._busy[collection] > 0

    def display_name(self, source: str) -> str:
        return source if urlsplit(source).scheme in ("http", "https") else Path(source).name

    def _tell(self, browser: str, payload: dict[str, Any]) -> None:
        self.socketio.emit("ingest", payload, to=browser_room(browser))

    def _run(self, browser: str, base: dict[str, Any], sources: list[str], crawl: bool) -> None:
        try:
            final = self._ingest(browser, base, sources, crawl)
        finally:
            # Released before the browser hears the outcome, so a delete it sends on
            # hearing it is not refused.
            with self._busy_lock:
                self._busy[base["collection"]] -= 1
        self._tell(browser, {**base, **final})
        if final["state"] == "done":
            self.socketio.emit("collections", self.listing())

    def _ingest(self, browser: str, base: dict[str, Any], sources: list[str],
                crawl: bool) -> dict[str, Any]:
        """Runs one job; its final state for the browser."""
        self._tell(browser, {**base, "state": "running"})

        def progress(p: Progress) -> None:
            self._tell(browser, {**base, "state": "progress", "source": self.display_name(
                p.source), "status": p.status, "documents_done": p.documents_done,
                "chunks_done": p.chunks_done})

        try:
            summary = self.grounding.rag.ingest(
                sources, base["collection"], crawl_depth=1 if crawl else None,
                max_pages=self.settings.crawl_max_pages, allow_private=False,
                url_allowlist=self.settings.url_allowlist, progress=progress)
        except RagError as exc:
            self.metrics.ingests.labels(outcome="failed").inc()
            return {"state": "failed", "text": f"Nothing was added: {exc}"}
        except Exception:
            log.exception("ingest failed")
            self.metrics.ingests.labels(outcome="failed").inc()
            return {"state": "failed",
                    "text": "Nothing was added: the ingestion failed unexpectedly."}
        self.metrics.ingests.labels(outcome="done" if summary.ok else "partial").inc()
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

    def listing(self) -> dict[str, Any]:
        try:
            found = self.grounding.collections()
        except RagError as exc:
            return {"collections": [], "default": self.settings.rag_collection,
                    "error": str(exc)}
        return {"collections": found, "default": self.settings.rag_collection}

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
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with tempfile.NamedTemporaryFile(dir=self.uploads_dir, prefix=".part-",
                                         delete=False) as out:
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
        folder = self.uploads_dir / digest.hexdigest()[:32]
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


def ingests() -> Ingests:
    return current_app.extensions["ingests"]


# HTTP -------------------------------------------------------------------------------------


def _caller() -> str:
    """The browser posting, refusing cross-site requests: the Origin (or, failing that, the
    Referer) must be this server's own."""
    own = request.host_url.rstrip("/")
    origin = request.headers.get("Origin")
    if origin is None and request.referrer:
        parts = urlsplit(request.referrer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin is None or origin.rstrip("/") not in (own, *services().settings.extra_origins):
        raise Refused("Documents can only be added from this site's own page.", 403)
    browser = session.get("browser")
    if not isinstance(browser, str):
        raise Refused("No session: reload the page first.", 403)
    return browser


def _collection_name(value: Any) -> str:
    name = value.strip() if isinstance(value, str) and value.strip() else \
        services().settings.rag_collection
    if not COLLECTION_NAME.match(name) or ".." in name:
        raise Refused(f"Collection names are 3 to 63 letters, digits, '.', '_' or '-', "
                      f"starting and ending with a letter or digit; {name[:70]!r} is not one.")
    return name


@bp.errorhandler(Refused)
def _refused(exc: Refused) -> tuple[Response, int]:
    return jsonify({"error": str(exc)}), exc.status


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_: RequestEntityTooLarge) -> tuple[Response, int]:
    s = services().settings
    return jsonify({"error": f"Upload too large: at most {s.upload_max_files} files of "
                    f"{s.upload_max_mb:g} MB each."}), 413


@bp.post("/documents/files")
def upload_files() -> tuple[Response, int]:
    browser = _caller()
    collection = _collection_name(request.form.get("collection"))
    jobs = ingests()
    paths = jobs.store_files(request.files.getlist("files"))
    return jsonify({"job": jobs.submit(browser, collection, paths)}), 202


@bp.post("/documents/url")
def submit_url() -> tuple[Response, int]:
    browser = _caller()
    data = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(data, dict):  # JSON that is not an object (the form is a dict)
        data = {}
    url = data.get("url")
    if not isinstance(url, str) or not url.strip():
        raise Refused("Give the URL of a page or document to add.")
    url = url.strip()
    collection = _collection_name(data.get("collection"))
    jobs = ingests()
    try:
        jobs.grounding.rag.check_url(url, allow_private=False,
                                     url_allowlist=jobs.settings.url_allowlist)
    except FetchError as exc:
        raise Refused(f"Cannot add {url[:200]}: {exc}. This server only fetches public "
                      "addresses.") from None
    crawl = data.get("crawl") in (True, "1", "true", "on")
    return jsonify({"job": jobs.submit(browser, collection, [url], crawl=crawl)}), 202


# Socket.IO --------------------------------------------------------------------------------

def _list_collections(*_: Any) -> None:
    emit("collections", ingests().listing())


def _delete_collection(data: Any = None, *_: Any) -> None:
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not isinstance(session.get("browser"), str):
        emit("error", {"message": "Malformed request: `name` must be a collection name."})
        return
    jobs = ingests()
    if jobs.busy(name):
        emit("error", {"message": f"Could not delete `{name}`: documents are still being "
                                  "added to it. Try again when that has finished."})
        return
    try:
        jobs.grounding.rag.delete(name)
    except RagError as exc:
        emit("error", {"message": f"Could not delete `{name}`: {exc}"})
        return
    jobs.socketio.emit("collections", jobs.listing())
