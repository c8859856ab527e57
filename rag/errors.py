"""Every exception rag raises on purpose, each a RagError: a caller catching RagError catches
them all, and a message is always the reason fit to show the user.

The public ones are exported by `rag`; the others stay inside the package (a loader's
refusal becomes a skipped document, a cancelled flush becomes Cancelled)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.documents import Summary


class RagError(Exception):
    """Anything the user must fix (unknown collection, model mismatch, unreachable Chroma)."""


class StoreError(RagError):
    """A collection problem the user can act on; the message says how."""


class NoCollection(StoreError):
    """No collection of that name (as opposed to a store that cannot be reached)."""


class NotYours(StoreError):
    """The collection exists and belongs to someone the writer may not write for."""


class EmbeddingError(RagError):
    """The model cannot be found or loaded, or EMBED_URL does not answer as it should; the
    message says what to do."""


class FetchError(RagError):
    """A URL that could not be fetched; the message is the reason shown to the user."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class PdfError(RagError):
    """A PDF with no usable text; the message is the reason."""


class NotText(RagError):
    """A file that is not text whatever its name says."""


class Stopped(RagError):
    """The ingestion was cancelled; what was written before stays."""


class Cancelled(RagError):
    """An ingestion stopped by its `cancel` event; `summary`: what it had written by then
    (each document whole: none is left half-written)."""

    def __init__(self, message: str, summary: Summary) -> None:
        super().__init__(message)
        self.summary = summary


class FormatError(RagError):
    """An office document, spreadsheet or e-book that cannot be read (corrupt, malformed,
    over a size limit); the message is the reason."""
