"""PDFs: text per page with pypdf, page numbers kept (1-based, as a reader counts them), under
the headings of the PDF's outline; table-of-contents and index pages left out
(rag.loaders.pdf_structure). Pages without a text layer are read by OCR when tesseract is
installed (rag.loaders.ocr)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import pypdfium2 as pdfium
from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from rag.documents import Document, Section
from rag.loaders import pdf_structure
from rag.loaders.ocr import page_list, read_scanned

# pypdf logs every repaired cross-reference table; the summary reports what matters.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class PdfError(Exception):
    """A PDF with no usable text; the message is the reason."""


@dataclass(frozen=True)
class PdfDocument(Document):
    """ocr_pages: the pages whose text came from OCR (it may hold misread words).
    unread: why some pages with content gave no text ("" when every page was read); the
    rest of the document is still worth adding, but the user must hear about those pages."""

    ocr_pages: tuple[int, ...] = ()
    unread: str = ""


def parse_pdf(data: bytes, source: str, fallback_title: str) -> PdfDocument:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise PdfError("encrypted PDF (needs a password)")
        texts: dict[int, str] = {}
        textless: list[int] = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if text:
                texts[number] = text
            else:
                textless.append(number)
        title = (reader.metadata.title if reader.metadata else None) or fallback_title
        starts = pdf_structure.outline(reader)
        scanned = read_scanned(data, textless) if textless else None
    except (FileNotDecryptedError, DependencyError) as e:
        raise PdfError(f"encrypted PDF: {e}") from None
    except PdfError:
        raise
    except (PyPdfError, pdfium.PdfiumError, ValueError, KeyError, TypeError, OSError) as e:
        raise PdfError(f"corrupt or truncated PDF: {e}") from None
    except Exception as e:  # noqa: BLE001 - untrusted bytes in a third-party parser
        # pypdf raises NotImplementedError, RecursionError, IndexError and more on malformed
        # files (found by tests/rag/test_loader_fuzz.py); one bad PDF must stay one failure.
        raise PdfError(f"unreadable PDF ({type(e).__name__}: {e})") from None
    if scanned is not None:
        texts.update(scanned.texts)
    if not texts and reader.pages:
        count = len(reader.pages)
        if scanned is not None and scanned.unread:
            raise PdfError(f"no extractable text in {count} page(s): {scanned.reason}")
        raise PdfError(f"no extractable text in {count} page(s) ({page_list(textless)} blank)")
    # A PDF that is all index is still worth its text.
    sections = pdf_structure.sections(texts, starts) or [
        Section(pdf_structure.tidy(texts[n]), page=n) for n in sorted(texts)]
    return PdfDocument(source, str(title).strip() or fallback_title, sections,
                       ocr_pages=tuple(sorted(scanned.texts)) if scanned else (),
                       unread=scanned.reason if scanned else "")
