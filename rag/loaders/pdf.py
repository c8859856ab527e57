"""PDFs: text per page with pypdf, page numbers kept (1-based, as a reader counts them)."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from rag.documents import Document, Section

# pypdf logs every repaired cross-reference table; the summary reports what matters.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class PdfError(Exception):
    """A PDF with no usable text; the message is the reason."""


def parse_pdf(data: bytes, source: str, fallback_title: str) -> Document:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise PdfError("encrypted PDF (needs a password)")
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if text:
                sections.append(Section(text, page=number))
        title = (reader.metadata.title if reader.metadata else None) or fallback_title
    except (FileNotDecryptedError, DependencyError) as e:
        raise PdfError(f"encrypted PDF: {e}") from None
    except PdfError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as e:
        raise PdfError(f"corrupt or truncated PDF: {e}") from None
    if not sections and len(reader.pages) > 0:
        raise PdfError(f"no extractable text in {len(reader.pages)} page(s) (scanned images?)")
    return Document(source, str(title).strip() or fallback_title, sections)
