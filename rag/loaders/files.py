"""Local files and folders, each read by the loader for its extension: PDF, HTML, Markdown,
text, DOCX, ODT, PPTX, XLSX, CSV and EPUB.

A file is read only if its kind is known, it has bytes, and it is at most MAX_FILE_BYTES;
any other file of a folder is a Skipped entry naming it and why, so a folder that gives
nothing says why. Hidden files and folders (a leading dot: .git, .DS_Store) are not
looked at."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from rag.documents import Document, Failure, Skipped
from rag.errors import FormatError, NotText, PdfError
from rag.loaders.epub import load_epub
from rag.loaders.html import decode_html, parse_html
from rag.loaders.ocr import DEFAULT_OCR, OcrLimits
from rag.loaders.odt import load_odt
from rag.loaders.office import load_docx, load_pptx
from rag.loaders.pdf import parse_pdf
from rag.loaders.sheets import load_csv, load_xlsx
from rag.loaders.text import load_markdown, load_text

# A larger file is skipped: the biggest manuals are tens of MB, and every loader holds the
# whole file (or its unpacked parts, bounded in rag.loaders.zipped) in memory.
MAX_FILE_BYTES = 200 * 1024 * 1024
# How the reason for a file of an unknown kind starts (the CLI then lists the known ones).
UNSUPPORTED = "unsupported kind"


def _load_pdf(path: Path, ocr: OcrLimits) -> Document:
    return parse_pdf(path.read_bytes(), str(path), path.name, ocr)


def _load_html(path: Path, _: OcrLimits) -> Document:
    return parse_html(decode_html(path.read_bytes()), str(path))


def _without_ocr(load: Callable[[Path], Document]) -> Callable[[Path, OcrLimits], Document]:
    return lambda path, _: load(path)


LOADERS: dict[str, Callable[[Path, OcrLimits], Document]] = {
    ".pdf": _load_pdf,
    ".html": _load_html,
    ".htm": _load_html,
    ".md": _without_ocr(load_markdown),
    ".markdown": _without_ocr(load_markdown),
    ".txt": _without_ocr(load_text),
    ".text": _without_ocr(load_text),
    ".rst": _without_ocr(load_text),
    ".docx": _without_ocr(load_docx),
    ".odt": _without_ocr(load_odt),
    ".pptx": _without_ocr(load_pptx),
    ".xlsx": _without_ocr(load_xlsx),
    ".csv": _without_ocr(load_csv),
    ".epub": _without_ocr(load_epub),
}


def skip_reason(path: Path) -> str | None:
    """Why `path` is not read at all (kind, size, no bytes); None when it is to be read.
    OSError when it cannot even be looked at."""
    if path.suffix.lower() not in LOADERS:
        return f"{UNSUPPORTED} {path.suffix.lower() or '(no extension)'!r}"
    size = path.stat().st_size
    if size == 0:
        return "empty file"
    if size > MAX_FILE_BYTES:
        return f"too large: {size:,} bytes, over {MAX_FILE_BYTES:,}"
    return None


def load_file(path: Path, ocr: OcrLimits = DEFAULT_OCR) -> Document | Failure:
    """One file; `ocr` bounds the rendering of a PDF's pages without text (RagSettings).
    A file not to be read is Skipped (a Failure), one that could not be read a Failure."""
    try:
        reason = skip_reason(path)
        if reason is not None:
            return Skipped(str(path), reason)
        return LOADERS[path.suffix.lower()](path, ocr)
    except (PdfError, NotText, FormatError) as e:
        return Failure(str(path), str(e))
    except OSError as e:
        return Failure(str(path), f"unreadable ({e.strerror or e})")
    except Exception as e:  # noqa: BLE001 - a parser's surprise stays this file's failure
        return Failure(str(path), f"unreadable file ({type(e).__name__}: {e})")


def load_path(path: Path, ocr: OcrLimits = DEFAULT_OCR) -> Iterator[Document | Failure]:
    """A file, or every file under a folder (hidden ones left out), in name order; the files
    not read come as Skipped, and a folder with no files at all as one Skipped entry."""
    path = path.expanduser().resolve()
    if path.is_dir():
        files = 0
        for child in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
            if child.is_file() and not hidden:
                files += 1
                yield load_file(child, ocr)
        if not files:
            yield Skipped(str(path), "folder with no files (hidden ones are not read)")
    elif path.exists():
        yield load_file(path, ocr)
    else:
        yield Failure(str(path), "no such file or folder")
