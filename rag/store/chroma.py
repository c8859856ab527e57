"""The Chroma client (embedded under DATA_DIR, or a server at CHROMA_URL), and how a chunk
is stored in it: its row as metadata."""

from __future__ import annotations

from urllib.parse import urlsplit

import chromadb
from chromadb.config import Settings as ChromaSettings

from rag.errors import StoreError
from rag.lexical import Row
from rag.settings import RagSettings

# Chroma caps one call's batch; stay well under it.
BATCH = 1000


def connect(settings: RagSettings) -> chromadb.ClientAPI:
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlsplit(settings.chroma_url)
        if not url.hostname:
            raise StoreError(f"CHROMA_URL={settings.chroma_url!r} is not a URL")
        https = url.scheme == "https"
        try:
            return chromadb.HttpClient(
                host=url.hostname, port=url.port or (443 if https else 8000), ssl=https,
                settings=chroma_settings,
            )
        except Exception as e:  # chromadb raises plain Exception/ValueError when unreachable
            raise StoreError(f"cannot reach Chroma at {settings.chroma_url}: {e}") from None
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


def chunk_metadata(row: Row, doc_hash: str, content_hash: str, ingested_at: str,
                   live: bool, ocr: bool) -> dict:
    # The text is metadata, not a Chroma "document": Chroma indexes documents for its own
    # substring search (which nothing here uses; BM25 is in the lexical index), and that
    # indexing cost more CPU than writing everything else.
    meta = {
        "text": row.text,
        "source": row.source,
        "title": row.title,
        "headings": row.headings,
        "context": row.context,
        "doc_hash": doc_hash,
        "content_hash": content_hash,
        "ingested_at": ingested_at,
        "live": live,
    }
    if row.page is not None:
        meta["page"] = row.page  # Chroma metadata has no null
    if ocr:
        meta["ocr"] = True
    return meta


def stored_row(chunk_id: str, document: str | None, meta: dict) -> Row:
    # Collections written before the text moved into the metadata keep it as the document.
    text = meta.get("text", document or "")
    return Row(
        chunk_id, meta["source"], meta["title"], meta.get("page"), meta["headings"],
        meta["context"], text,
    )
