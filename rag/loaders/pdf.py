"""PDFs: text per page with pypdf, page numbers kept (1-based, as a reader counts them), under
the headings of the PDF's outline; table-of-contents and index pages left out
(rag.loaders.pdf_structure). Pages without a text layer are read by OCR when tesseract is
installed (rag.loaders.ocr).

A PDF is untrusted, and pypdf reads page content in Python: a 25 KB file can hold an 8 MB
content stream (65 s of extract_text on a loaded 2-core machine; pypdf's own cap on a
decompressed stream is 75 MB), and a few hundred KB can declare 100,000 pages. So: at most
MAX_PAGES pages are read, a page whose content (streams and forms, decompressed) is over
MAX_PAGE_CONTENT bytes is not extracted, and extraction stops after TEXT_SECONDS; every page
left out is named in the document's `unread` reason."""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium
from pypdf import PageObject, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from rag.documents import Document, Section
from rag.errors import PdfError
from rag.loaders import pdf_structure
from rag.loaders.ocr import DEFAULT_OCR, OcrLimits, page_list, read_scanned

# pypdf logs every repaired cross-reference table; the summary reports what matters.
logging.getLogger("pypdf").setLevel(logging.ERROR)

# Pages read per PDF: a long manual has about 2,000; pypdf itself stops at 100,000.
MAX_PAGES = 5000
# Decompressed content bytes of one page (its streams and the forms it draws): a dense text
# page has under 100 KB; pypdf extracts about 1 MB in 8 s (a loaded 2-core machine).
MAX_PAGE_CONTENT = 2_000_000
# Seconds of text extraction per PDF, checked between pages (so at most one page's worth,
# bounded by MAX_PAGE_CONTENT, over); a few hostile pages must not hold an ingestion for
# hours, and honest pages take a fraction of a second each.
TEXT_SECONDS = 300.0
# Nesting of form XObjects followed when measuring a page's content.
FORM_DEPTH = 8


@dataclass(frozen=True)
class PdfDocument(Document):
    """ocr_pages: the pages whose text came from OCR (it may hold misread words); `unread`
    names the pages with content that gave no text."""

    ocr_pages: tuple[int, ...] = ()


def _content_size(page: PageObject, limit: int) -> int:
    """Decompressed bytes of the page's content streams and of the form XObjects in its
    resources (extract_text reads those too), counted until over `limit`. Images are not
    decoded: text extraction does not read them."""
    total = 0
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(page.get("/Contents"), 0), (page.get("/Resources"), 0)]
    while stack and total <= limit:
        item, depth = stack.pop()
        obj = item.get_object() if item is not None else None
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, list):  # an array of content streams
            stack += [(part, depth) for part in obj]
        elif hasattr(obj, "get_data") and obj.get("/Subtype") in (None, "/Form"):
            total += len(obj.get_data())
            if obj.get("/Subtype") == "/Form" and depth < FORM_DEPTH:
                stack.append((obj.get("/Resources"), depth + 1))
        elif isinstance(obj, dict) and "/XObject" in obj:  # a resource dictionary
            forms = obj["/XObject"].get_object()
            if isinstance(forms, dict):
                stack += [(form, depth) for form in forms.values()]
    return total


def parse_pdf(data: bytes, source: str, fallback_title: str,
              ocr: OcrLimits = DEFAULT_OCR) -> PdfDocument:
    """The PDF's text by page; `ocr` bounds the rendering of pages without a text layer."""
    skipped: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise PdfError("encrypted PDF (needs a password)")
        texts: dict[int, str] = {}
        textless: list[int] = []
        heavy: list[int] = []
        count = len(reader.pages)
        deadline = time.monotonic() + TEXT_SECONDS
        for number in range(1, min(count, MAX_PAGES) + 1):
            if time.monotonic() > deadline:
                skipped.append(f"{page_list(range(number, count + 1))} not read: text "
                               f"extraction of this PDF took over {TEXT_SECONDS:g} s")
                count = number - 1  # the pages over MAX_PAGES are in this reason already
                break
            page = reader.pages[number - 1]
            if _content_size(page, MAX_PAGE_CONTENT) > MAX_PAGE_CONTENT:
                heavy.append(number)
                continue
            text = (page.extract_text() or "").strip()
            if text:
                texts[number] = text
            else:
                textless.append(number)
        if heavy:
            skipped.append(f"{page_list(heavy)} not read: over {MAX_PAGE_CONTENT:,} bytes of "
                           f"page content each")
        if count > MAX_PAGES:
            skipped.append(f"{page_list(range(MAX_PAGES + 1, count + 1))} not read: over "
                           f"{MAX_PAGES} pages per PDF")
        title = (reader.metadata.title if reader.metadata else None) or fallback_title
        starts = pdf_structure.outline(reader)
        scanned = (read_scanned(data, textless, ocr)
                   if textless else None)
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
    unread = "; ".join([*([scanned.reason] if scanned and scanned.reason else []), *skipped])
    if not texts and reader.pages:
        count = len(reader.pages)
        if unread:
            raise PdfError(f"no extractable text in {count} page(s): {unread}")
        raise PdfError(f"no extractable text in {count} page(s) ({page_list(textless)} blank)")
    # A PDF that is all index is still worth its text.
    sections = pdf_structure.sections(texts, starts) or [
        Section(pdf_structure.tidy(texts[n]), page=n) for n in sorted(texts)]
    return PdfDocument(source, str(title).strip() or fallback_title, sections,
                       ocr_pages=tuple(sorted(scanned.texts)) if scanned else (),
                       unread=unread)
