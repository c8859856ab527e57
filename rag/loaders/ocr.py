"""Scanned PDF pages: rendered with pypdfium2 and read by the tesseract command (Debian's
`tesseract-ocr`), an optional dependency. Without it a page with no text layer is reported by
number, never dropped in silence.

A PDF is untrusted: a few KB can declare thousands of pages of 200 x 200 inches, each a
gigabyte of pixels once rendered. So at most RAG_OCR_MAX_PAGES text-less pages are rendered
per PDF, and a page is rendered only when its size (read before rendering) gives at most
RAG_OCR_MAX_PIXELS pixels; pages left out are named in the reason, with the setting."""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import pypdfium2 as pdfium
from PIL import Image

from rag.settings import RagSettings

INSTALL_HINT = "install tesseract-ocr (apt-get install tesseract-ocr) and add it again"
LANGUAGE = "eng"
# PDF pages are measured in 1/72 inch; tesseract reads best at 200-300 dpi, and 2.5x
# (180 dpi) read the test scans as well as 4x at a third of the time.
SCALE = 2.5
_FIELDS = RagSettings.model_fields


@dataclass(frozen=True)
class OcrLimits:
    """How much of one PDF is rendered: RAG_OCR_MAX_PAGES and RAG_OCR_MAX_PIXELS, from the
    caller's settings (the defaults are the settings' defaults, never the environment's)."""

    max_pages: int = _FIELDS["ocr_max_pages"].default
    max_pixels: int = _FIELDS["ocr_max_pixels"].default

    @classmethod
    def of(cls, settings: RagSettings) -> OcrLimits:
        return cls(settings.ocr_max_pages, settings.ocr_max_pixels)


DEFAULT_OCR = OcrLimits()


# A page that takes longer is unreadable noise, not text; the rest of the PDF goes on.
PAGE_TIMEOUT = 120.0
# Seconds of rendering and OCR per PDF, checked between pages: RAG_OCR_MAX_PAGES pages that
# each run to PAGE_TIMEOUT would otherwise hold an ingestion for hours.
DOCUMENT_TIMEOUT = 600.0
# Grayscale levels: a rendered page whose darkest pixel is lighter than this is blank.
BLANK_LEVEL = 245
# Without OCR a small rendering is enough to tell a blank page from a scan.
BLANK_SCALE = 0.5
# Runs of page numbers written out in a reason; a hostile PDF can have thousands.
LISTED_RUNS = 20


@dataclass
class Scanned:
    """What reading the text-less pages gave: page -> text, and the pages left unread."""

    texts: dict[int, str] = field(default_factory=dict)
    blank: list[int] = field(default_factory=list)
    unread: list[int] = field(default_factory=list)
    reason: str = ""


def page_list(numbers: Iterable[int]) -> str:
    """"page 3", "pages 1-3, 7": page numbers as a reader would write them."""
    numbers = sorted(numbers)
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    text = ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}"
                     for r in runs[:LISTED_RUNS])
    if len(runs) > LISTED_RUNS:
        text += f", … ({len(numbers)} pages)"
    return f"page{'s' if len(numbers) > 1 else ''} {text}"


def _render(pdf: pdfium.PdfDocument, number: int, scale: float,
            max_pixels: int) -> Image.Image | tuple[float, float]:
    """The page as a grayscale image, or its size in points when rendering it at `scale`
    would take more than `max_pixels` pixels (it is then not rendered at all)."""
    page = pdf[number - 1]
    try:
        width, height = page.get_size()
        # Floats, and "not <=": a size of NaN, infinity or below zero is refused too.
        pixels = (width * scale + 1) * (height * scale + 1)
        if not 0 <= pixels <= max_pixels:
            return width, height
        return page.render(scale=scale, grayscale=True).to_pil().convert("L")
    finally:
        page.close()


def _is_blank(image: Image.Image) -> bool:
    darkest, _ = image.getextrema()
    return int(darkest) > BLANK_LEVEL  # type: ignore[arg-type]


def _tesseract(program: str, image: Image.Image, dpi: int) -> str:
    png = io.BytesIO()
    image.save(png, "PNG", dpi=(dpi, dpi))
    done = subprocess.run(
        [program, "stdin", "stdout", "-l", LANGUAGE, "--dpi", str(dpi)],
        input=png.getvalue(), capture_output=True, timeout=PAGE_TIMEOUT, check=False)
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OSError(lines[-1] if lines else f"tesseract exited with {done.returncode}")
    return done.stdout.decode("utf-8", "replace").strip()


def read_scanned(data: bytes, numbers: list[int], limits: OcrLimits = DEFAULT_OCR
                 ) -> Scanned:
    """OCR the pages `numbers` (1-based) of the PDF `data` when tesseract is on PATH; blank
    pages are told apart from scanned ones either way. At most `limits.max_pages` pages are
    rendered, each of at most `limits.max_pixels` pixels."""
    max_pages, max_pixels = limits.max_pages, limits.max_pixels
    program = shutil.which("tesseract")
    scale = SCALE if program else BLANK_SCALE
    result = Scanned()
    failures: list[str] = []
    numbers = sorted(numbers)
    beyond = numbers[max_pages:]
    too_large: dict[int, tuple[float, float]] = {}
    late: list[int] = []
    deadline = time.monotonic() + DOCUMENT_TIMEOUT
    pdf = pdfium.PdfDocument(data)
    try:
        for number in numbers[:max_pages]:
            if time.monotonic() > deadline:
                late.append(number)
                continue
            image = _render(pdf, number, scale, max_pixels)
            if isinstance(image, tuple):
                too_large[number] = image
                continue
            if _is_blank(image):
                result.blank.append(number)
                continue
            if program is None:
                result.unread.append(number)
                continue
            try:
                text = _tesseract(program, image, round(72 * SCALE))
            except subprocess.TimeoutExpired:
                failures.append(f"OCR of page {number} took over {PAGE_TIMEOUT:g} s")
                result.unread.append(number)
                continue
            except OSError as e:
                failures.append(f"OCR of page {number} failed: {e}")
                result.unread.append(number)
                continue
            if text:
                result.texts[number] = text
            else:
                result.unread.append(number)
    finally:
        pdf.close()
    reasons: list[str] = []
    if result.unread:
        what = f"{page_list(result.unread)}: no text layer"
        if program is None:
            one = len(result.unread) == 1
            reasons.append(f"{what} (scanned?) and no OCR to read {'it' if one else 'them'}: "
                           f"{INSTALL_HINT}")
        else:
            reasons.append(f"{what}, and OCR found none" + "".join(f"; {f}" for f in failures))
    if too_large:
        width, height = next(iter(too_large.values()))
        reasons.append(
            f"{page_list(too_large)}: no text layer, and too large to render "
            f"({width:g} x {height:g} pt is over RAG_OCR_MAX_PIXELS, {max_pixels:,} pixels, "
            f"at {round(72 * scale)} dpi)")
    if late:
        reasons.append(f"{page_list(late)}: no text layer, and not read: OCR of this PDF took "
                       f"over {DOCUMENT_TIMEOUT:g} s")
    if beyond:
        reasons.append(
            f"{page_list(beyond)}: no text layer, and not rendered: over RAG_OCR_MAX_PAGES "
            f"({max_pages} pages without a text layer per PDF)")
    result.unread = sorted([*result.unread, *too_large, *late, *beyond])
    result.reason = "; ".join(reasons)
    return result
