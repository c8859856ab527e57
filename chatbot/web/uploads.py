"""Adding documents from the page over HTTP: file uploads and URLs into a collection, handed
to the ingestion jobs (ingests.py), whose progress reaches the page over Socket.IO.

HTTP (the page's own origin only, checked in auth.py for every POST: cookies identify the
user, so a cross-site form must not be able to post here):
    POST /documents/files   multipart `files` (one or more) and `collection`
    POST /documents/url     form or JSON: `url`, `collection`, `crawl` (follow links one
                            level, at most RAG_CRAWL_MAX_PAGES pages)
Both answer 202 {"job": id} or 4xx {"error": "readable reason"}. With accounts on, a new
collection belongs to the user creating it; adding to one that is not theirs is refused
(here, and again when the job writes: the name may be taken while the job waits).
    POST /documents/cancel  form or JSON `job`: cancel a queued or running job of the
                            caller's (an admin's: anyone's); 200 {"cancelled": id}, or 404
                            {"error"} for a job that is not theirs or has ended
    GET  /documents/jobs    the queued and running jobs the caller may cancel (an admin:
                            all, with their users): the operator's view of the queue
Each file and URL is recorded (uploads table) for /files/ access and the per-user limits.

URLs obey the address rules of rag's fetcher (no loopback, private, link-local or metadata
addresses, checked after DNS and on every redirect) plus RAG_URL_ALLOWLIST; one that breaks
them is refused here, before a job is queued.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from chatbot.accounts.viewer import Viewer
from chatbot.documents.collection_admin import upload_key
from chatbot.errors import Refused
from chatbot.services import services
from chatbot.settings import Settings
from chatbot.web import auth
from rag import FetchError

bp = Blueprint("documents", __name__)

# Chroma's own rule for collection names, checked here to say it in words.
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")
# Multipart framing and the form fields around the files.
FORM_OVERHEAD = 1024 * 1024


def init_app(app: Flask, settings: Settings) -> None:
    # Werkzeug refuses a larger Content-Length at once and stops reading a body past it.
    app.config["MAX_CONTENT_LENGTH"] = (settings.upload_max_files * settings.upload_max_bytes
                                        + FORM_OVERHEAD)
    app.register_blueprint(bp)


def _caller() -> Viewer:
    """Who is adding documents (the origin was checked before any route ran)."""
    viewer = auth.viewer()
    if viewer is None:
        raise Refused("No session: reload the page first.", 403)
    return viewer


def _collection_name(value: Any, viewer: Viewer) -> str:
    name = value.strip() if isinstance(value, str) and value.strip() else \
        viewer.default_collection(services().settings.rag_collection)
    if not COLLECTION_NAME.match(name) or ".." in name:
        raise Refused(f"Collection names are 3 to 63 letters, digits, '.', '_' or '-', "
                      f"starting and ending with a letter or digit; {name[:70]!r} is not one.")
    services().ingests.may_add(name, viewer)
    return name


def _within_limits(viewer: Viewer, items: int, size: int) -> None:
    refusal = services().limits.upload(viewer.key, items, size)
    if refusal:
        raise Refused(refusal, 429)


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
    viewer = _caller()
    collection = _collection_name(request.form.get("collection"), viewer)
    files = request.files.getlist("files")
    _within_limits(viewer, len(files), request.content_length or 0)
    s = services()
    paths, skipped = s.ingests.store_files(files, collection)
    s.store.add_uploads(viewer.key, collection,
                        [(upload_key(p), Path(p).stat().st_size) for p in paths])
    return jsonify({"job": s.ingests.submit(viewer, collection, paths, skipped=skipped)}), 202


@bp.post("/documents/cancel")
def cancel_job() -> tuple[Response, int]:
    viewer = _caller()
    data = request.get_json(silent=True) if request.is_json else request.form
    job = data.get("job") if isinstance(data, dict) else None
    if not isinstance(job, str) or not job:
        raise Refused("Give the `job` to cancel.")
    problem = services().ingests.cancel(job, viewer)
    if problem:
        raise Refused(problem, 404)
    return jsonify({"cancelled": job}), 200


@bp.get("/documents/jobs")
def list_jobs() -> tuple[Response, int]:
    return jsonify({"jobs": services().ingests.running_jobs(_caller())}), 200


@bp.post("/documents/url")
def submit_url() -> tuple[Response, int]:
    viewer = _caller()
    data = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(data, dict):  # JSON that is not an object (the form is a dict)
        data = {}
    url = data.get("url")
    if not isinstance(url, str) or not url.strip():
        raise Refused("Give the URL of a page or document to add.")
    url = url.strip()
    collection = _collection_name(data.get("collection"), viewer)
    _within_limits(viewer, 1, 0)
    s = services()
    try:
        s.library.check_url(url)
    except FetchError as exc:
        raise Refused(f"Cannot add {url[:200]}: {exc}. This server only fetches public "
                      "addresses.") from None
    crawl = data.get("crawl") in (True, "1", "true", "on")
    s.store.add_uploads(viewer.key, collection, [(url, 0)])
    return jsonify({"job": s.ingests.submit(viewer, collection, [url], crawl=crawl)}), 202
