"""What the store reports: a collection's counts and access, a document's kind and counts;
and a collection's access as its Chroma metadata records it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal
from urllib.parse import urlsplit


@dataclass(frozen=True)
class CollectionInfo:
    """owner: the user name the collection belongs to; None means no owner (the operator's,
    for admins only). shared: readable by everyone, whoever owns it."""

    name: str
    chunks: int
    documents: int
    model: str
    owner: str | None = None
    shared: bool = False


DocumentKind = Literal["pdf", "html", "markdown", "text", "docx", "odt", "pptx", "xlsx", "csv",
                       "epub", "url"]
_KINDS: dict[str, DocumentKind] = {".pdf": "pdf", ".html": "html", ".htm": "html",
                                   ".md": "markdown", ".markdown": "markdown", ".docx": "docx",
                                   ".odt": "odt", ".pptx": "pptx", ".xlsx": "xlsx",
                                   ".csv": "csv", ".epub": "epub"}


def document_kind(source: str) -> DocumentKind:
    if urlsplit(source).scheme in ("http", "https"):
        return "url"
    return _KINDS.get(PurePath(source).suffix.lower(), "text")


@dataclass(frozen=True)
class DocumentInfo:
    """One source of a collection. added: when its current version was stored, i.e. when
    it last changed (ISO 8601, UTC). ocr_pages: the pages whose text came from OCR.
    first_added: when it was first stored; checked: when it was last ingested or fetched
    again, changed or not; problem: what went wrong then ("" if nothing). pages: the last
    page a passage cites (a PDF's page count, but for trailing pages without text); None
    for a document without pages."""

    source: str
    title: str
    kind: DocumentKind
    chunks: int
    added: str
    ocr_pages: tuple[int, ...] = ()
    first_added: str = ""
    checked: str = ""
    problem: str = ""
    pages: int | None = None



@dataclass(frozen=True)
class FailedSource:
    """A source that failed before it was ever stored: why, and when (ISO 8601, UTC)."""

    source: str
    reason: str
    checked: str


def access(metadata: Mapping[str, object] | None) -> tuple[str | None, bool]:
    """(owner, shared) as a collection's Chroma metadata records them."""
    metadata = metadata or {}
    owner = metadata.get("owner")
    # Only a true boolean shares: a stray "no" written by another tool must not open it up.
    return (None if owner is None else str(owner)), metadata.get("shared") is True
