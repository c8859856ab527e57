"""Collection administration from the page: the collections listed and deleted, a
collection's documents listed and removed. A mixin of Ingests (chatbot/documents/ingests.py), which
holds the queue these must not act under (`busy`) and the uploads whose files follow the
documents (removing the last document of a file removes the file).

When a collection changes, with accounts off every page is sent the new `collections`
listing; with accounts on the owner's pages are, and every other page is sent
`collections_changed` to ask for its own (a listing shows only what its reader may read).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chatbot.accounts.viewer import Viewer
from chatbot.common import Emit, browser_room
from chatbot.db.store import Store
from chatbot.documents.library import Library, attachments_collection, display_name, document_id
from chatbot.documents.upload_store import UploadStore
from chatbot.settings import Settings
from rag import RagError

log = logging.getLogger("chatbot.documents.collection_admin")


class CollectionAdmin:
    settings: Settings
    library: Library
    store: Store
    emit: Emit
    uploads: UploadStore

    def busy(self, collection: str) -> bool:
        """A job is queued or running for `collection` (Ingests says)."""
        raise NotImplementedError

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
            sources = [d.source for d in self.library.documents(collection)]
            self.library.delete(collection)
        except RagError as exc:
            return f"Could not delete `{collection}`: {exc}"
        self.store.forget_collection(collection)
        self.uploads.release(sources)
        self.changed(viewer)
        return None

    def forget_attachments(self, conversation_id: str, viewer: Viewer) -> None:
        """Delete the files attached in a conversation just deleted. Kept (and logged) when
        they cannot be: a file of it still being read, the store unreachable."""
        collection = attachments_collection(conversation_id)
        try:
            if self.library.find(collection, viewer) is None:
                return
        except RagError as exc:
            log.warning("kept the attachments of deleted conversation %s: %s",
                        conversation_id, exc)
            return
        problem = self.delete(collection, viewer)
        if problem:
            log.warning("kept the attachments of a deleted conversation: %s", problem)

    def documents(self, collection: str, viewer: Viewer) -> dict[str, Any]:
        """The `documents` event's payload: what the page lists for a collection `viewer`
        may read (one it may not is answered as absent)."""
        base: dict[str, Any] = {"collection": collection, "documents": []}
        info = self.library.find(collection, viewer)
        if info is None:
            return {**base, "error": f"No collection “{collection}”."}
        try:
            found = self.library.documents(collection)
            failed = self.library.rag.failed_sources(collection)
        except RagError as exc:
            return {**base, "error": f"Could not list the documents: {exc}"}
        return {**base, "can_change": viewer.can_change(info.owner), "documents": [
            {"id": document_id(d.source), "name": display_name(d.source),
             "title": d.title, "url": self.library.link(d.source), "kind": d.kind,
             "chunks": d.chunks, "added": d.added, "ocr_pages": list(d.ocr_pages),
             "first_added": d.first_added, "checked": d.checked, "problem": d.problem}
            for d in found], "failed": [
            {"name": display_name(f.source), "reason": f.reason, "checked": f.checked}
            for f in failed]}

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
            return f"Could not remove {display_name(source)}: {exc}"
        self.uploads.release([source])
        self._refund(collection, source)
        self.emit("documents", self.documents(collection, viewer), browser_room(viewer.key))
        self.changed(viewer)
        return None

    def _refund(self, collection: str, source: str) -> None:
        """The removed document's upload no longer counts against its uploader's storage,
        unless the same bytes stay in the collection under another name."""
        key = upload_key(source)
        try:
            left = {upload_key(d.source) for d in self.library.documents(collection)}
        except RagError:
            return  # cannot tell: keep counting it rather than refund what is still held
        if key not in left:
            self.store.forget_upload(collection, key)

    def changed(self, viewer: Viewer) -> None:
        """Show the pages a collection changed."""
        if viewer.name is None:
            self.emit("collections", self.listing(viewer), None)
            return
        self.emit("collections", self.listing(viewer), browser_room(viewer.key))
        self.emit("collections_changed", {}, None)

    def listing(self, viewer: Viewer) -> dict[str, Any]:
        try:
            found = self.library.collections(viewer)
        except RagError as exc:
            return {"collections": [], "error": str(exc),
                    "default": viewer.default_collection(self.settings.rag_collection)}
        return {"collections": found,
                "default": viewer.default_collection(self.settings.rag_collection),
                "accounts": viewer.name is not None,
                "can_share": viewer.can_share()}


def upload_key(source: str) -> str:
    """How the uploads table names a document's source: its file's folder (the bytes'
    digest) for an upload, the URL itself for a web page."""
    return source if urlsplit(source).scheme in ("http", "https") else Path(source).parent.name
