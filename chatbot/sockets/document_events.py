"""The user's document collections: listed, deleted, shared; their documents listed,
removed, fetched again; and the retrieval view of grounded answers."""

from __future__ import annotations

from typing import Any

from flask_socketio import emit

from chatbot.errors import BadPayload
from chatbot.sockets.base import Client, EventsBase, guarded, refuse_if
from rag import RagError


class DocumentEvents(EventsBase):
    @guarded
    def on_collections(self, client: Client, _: dict[str, Any]) -> None:
        emit("collections", self.ingests.listing(client.viewer))

    @guarded
    def on_delete_collection(self, client: Client, data: dict[str, Any]) -> None:
        name = data.get("name")
        if not isinstance(name, str):
            raise BadPayload("Malformed request: `name` must be a collection name.")
        refuse_if(self.ingests.delete(name, client.viewer))

    @guarded
    def on_share_collection(self, client: Client, data: dict[str, Any]) -> None:
        """{"name", "shared": bool}: an admin shares a collection with every user, or stops."""
        name, shared = data.get("name"), data.get("shared")
        if not isinstance(name, str) or not isinstance(shared, bool):
            raise BadPayload("Malformed request: `name` must be a collection name and "
                             "`shared` true or false.")
        viewer = client.viewer
        if not viewer.can_share():
            raise BadPayload("Only an admin can share a collection (with accounts on).")
        if self.library.find(name, viewer) is None:
            raise BadPayload(f"Could not share `{name}`: no such collection.")
        try:
            self.library.share(name, shared)
        except RagError as exc:
            raise BadPayload(f"Could not share `{name}`: {exc}") from exc
        self.ingests.changed(viewer)

    @guarded
    def on_documents(self, client: Client, data: dict[str, Any]) -> None:
        """{"collection"}: its documents, answered with `documents`."""
        name = data.get("collection")
        if not isinstance(name, str):
            raise BadPayload("Malformed request: `collection` must be a collection name.")
        emit("documents", self.ingests.documents(name, client.viewer))

    @guarded
    def on_remove_document(self, client: Client, data: dict[str, Any]) -> None:
        """{"collection", "id"}: remove one document; the new listing follows."""
        refuse_if(self.ingests.remove_document(*_document(data), client.viewer))

    @guarded
    def on_refetch_document(self, client: Client, data: dict[str, Any]) -> None:
        """{"collection", "id"}: fetch a URL document again, reported by `ingest` events."""
        refuse_if(self.ingests.refetch(*_document(data), client.viewer))

    @guarded
    def on_retrieval_debug(self, client: Client, data: dict[str, Any]) -> None:
        """{"on": bool}: this user's grounded answers are preceded by a `retrieval` event
        (the page's debug view) or not."""
        on = data.get("on")
        if not isinstance(on, bool):
            raise BadPayload("Malformed request: `on` must be true or false.")
        self.grounding.show_retrieval(client.viewer.key, on)


    @guarded
    def on_test_retrieval(self, client: Client, data: dict[str, Any]) -> None:
        """{"collection", "query"}: the passages a question would retrieve, with their ranks
        and scores (the Documents panel's twin of `rag query --explain`), answered with
        `test_retrieval`. Counted as a question against the per-user message limit: each
        runs the embedding model."""
        name, query = data.get("collection"), data.get("query")
        if not isinstance(name, str) or not isinstance(query, str) or not query.strip():
            raise BadPayload("Malformed request: `collection` must be a collection name and "
                             "`query` a question.")
        query = " ".join(query.split())
        if len(query) > MAX_TEST_QUERY:
            raise BadPayload(f"A test question is at most {MAX_TEST_QUERY} characters.")
        if self.library.find(name, client.viewer) is None:  # another user's: as if missing
            raise BadPayload(f"No collection “{name}”.")
        refuse_if(self.limits.question(client.viewer.key))
        try:
            explained = self.library.explain(query, name, self.settings.rag_k, client.viewer)
        except RagError as exc:
            raise BadPayload(f"Could not search “{name}”: {exc}") from exc
        emit("test_retrieval", {"collection": name, "query": query, "passages": [
            {**self.grounding.source(e.passage), "rank": rank,
             "lexical_rank": e.lexical_rank, "vector_rank": e.vector_rank,
             "headings": list(e.passage.headings),
             "excerpt": " ".join(e.passage.text.split())[:300]}
            for rank, e in enumerate(explained, 1)]})


MAX_TEST_QUERY = 1000


def _document(data: dict[str, Any]) -> tuple[str, str]:
    name, document = data.get("collection"), data.get("id")
    if not isinstance(name, str) or not isinstance(document, str):
        raise BadPayload("Malformed request: `collection` must be a collection name and "
                         "`id` a document's id from `documents`.")
    return name, document
