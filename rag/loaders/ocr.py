"""Scanned PDF pages: rendered with pypdfium2 and read by the tesseract command (Debian's
`tesseract-ocr`), an optional dependency. Without it a page with no text layer is reported by
number, never dropped in silence."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

import pypdfium2 as pdfium
from PIL import Image

INSTALL_HINT = "install tesseract-ocr (apt-get install tesseract-ocr) and add it again"
LANGUAGE = "eng"
# PDF pages are measured in 1/72 inch; tesseract reads best at 200-300 dpi, and 2.5x
# (180 dpi) read the test scans as well as 4x at a third of the time.
SCALE = 2.5
# A page that takes longer is unreadable noise, not text; the rest of the PDF goes on.
PAGE_TIMEOUT = 120.0
# Grayscale levels: a rendered page whose darkest pixel is lighter than this is blank.
BLANK_LEVEL = 245


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
    text = ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
    return f"page{'s' if len(numbers) > 1 else ''} {text}"


def _render(pdf: pdfium.PdfDocument, number: int, scale: float) -> Image.Image:
    page = pdf[number - 1]
    try:
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


def read_scanned(data: bytes, numbers: list[int]) -> Scanned:
    """OCR the pages `numbers` (1-based) of the PDF `data` when tesseract is on PATH; blank
    pages are told apart from scanned ones either way."""
    program = shutil.which("tesseract")
    result = Scanned()
    failures: list[str] = []
    pdf = pdfium.PdfDocument(data)
    try:
        for number in numbers:
            # Without OCR a small rendering is enough to tell a blank page from a scan.
            image = _render(pdf, number, SCALE if program else 0.5)
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
    if result.unread:
        what = f"{page_list(result.unread)}: no text layer"
        if program is None:
            one = len(result.unread) == 1
            result.reason = (f"{what} (scanned?) and no OCR to read {'it' if one else 'them'}: "
                             f"{INSTALL_HINT}")
        else:
            result.reason = f"{what}, and OCR found none" + "".join(
                f"; {f}" for f in failures)
    return result
