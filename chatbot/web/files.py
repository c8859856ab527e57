"""Serving the files users uploaded, so a source under an answer opens the document itself:
`GET /files/<id>` (a PDF at its page with `#page=N`, which the browser's viewer follows).

With accounts on, a file is served to whoever sent it and to those who may read a collection
it was added to; to anyone else it does not exist (404, like an unknown id).

Only PDFs are shown inline. HTML, Markdown, text and CSV are sent as plain text: an uploaded
page rendered on our own origin could run script with the user's cookie. Office documents,
spreadsheets and e-books (zip files the browser cannot show) are sent as downloads.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, send_file

from chatbot.services import services
from chatbot.web import auth
from rag import RagError

bp = Blueprint("files", __name__)

FILE_ID = re.compile(r"^[0-9a-f]{32}$")
# A PDF may only be shown by the browser's own viewer; nothing in it may load or run.
PDF_CSP = "default-src 'none'; object-src 'self'; style-src 'unsafe-inline'; img-src data:"
TEXT_CSP = "default-src 'none'; sandbox"
# Zip files underneath, shown by no browser: saved, not displayed.
DOWNLOADED = frozenset({".docx", ".odt", ".pptx", ".xlsx", ".epub"})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/files/<file_id>")
def serve(file_id: str) -> Response:
    if not FILE_ID.match(file_id) or not _may_read(file_id):
        abort(404)
    folder = services().library.uploads_dir / file_id
    found = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    if not found:
        abort(404)  # never stored, or removed with the last document that had it
    path, shown = _named(found)
    pdf = path.suffix.lower() == ".pdf"
    packed = path.suffix.lower() in DOWNLOADED
    response = send_file(path, mimetype="application/pdf" if pdf else
                         "application/octet-stream" if packed else "text/plain",
                         download_name=shown, as_attachment=packed, conditional=True,
                         max_age=3600)
    if not pdf and not packed:
        response.mimetype = "text/plain"
        response.charset = "utf-8"
    response.headers["Content-Security-Policy"] = PDF_CSP if pdf else TEXT_CSP
    if services().settings.auth:
        response.cache_control.private = True  # never kept by a shared cache
    return response


def _may_read(file_id: str) -> bool:
    s = services()
    if not s.settings.auth:
        return True
    viewer = auth.viewer()
    if viewer is None:
        return False
    places = s.store.upload_places(file_id)
    if any(owner == viewer.key for owner, _ in places):
        return True
    collections = {collection for _, collection in places}
    return bool(collections) and bool(collections & s.library.readable(viewer))


def _named(found: list[Path]) -> tuple[Path, str]:
    """The file to send and the name to send it under. The same bytes may be stored under
    several uploaders' names (hard links, chatbot/documents/upload_store.py): the name is one a
    document the reader may read has, never another user's; none of them: a neutral one
    (its uploader, whose document was removed, may still fetch the bytes another keeps)."""
    s = services()
    if not s.settings.auth:  # every reader may read every collection, and so every name
        return found[0], found[0].name
    viewer = auth.viewer()
    readable = set() if viewer is None else s.library.readable(viewer)
    try:
        theirs = s.library.rag.held([str(p) for p in found], readable)
    except RagError:
        theirs = set()
    named = next((p for p in found if str(p) in theirs), None)
    return (named, named.name) if named else (found[0], f"document{found[0].suffix}")
