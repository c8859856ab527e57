"""Chroma (embedded under DATA_DIR, or a server at CHROMA_URL) plus the lexical index, kept
consistent: every write goes to both, in an order that never shows half a source."""

from rag.store.collection import Collection, Hit, NewChunk
from rag.store.records import (
    CollectionInfo,
    DocumentInfo,
    DocumentKind,
    FailedSource,
    document_kind,
)
from rag.store.store import Store

__all__ = [
    "Collection", "CollectionInfo", "DocumentInfo", "DocumentKind", "FailedSource", "Hit",
    "NewChunk", "Store", "document_kind",
]
