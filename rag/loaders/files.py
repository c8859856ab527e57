"""Local files and folders: PDF, HTML, Markdown and plain text, chosen by extension."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from rag.documents import Document, Failure
from rag.loaders.html import decode_html, parse_html
from rag.loaders.ocr import DEFAULT_OCR, OcrLimits
from rag.loaders.pdf import PdfError, parse_pdf
from rag.loaders.text import NotText, load_markdown, load_text


def _load_pdf(path: Path, ocr: OcrLimits) -> Document:
    return parse_pdf(path.read_bytes(), str(path), path.name, ocr)


def _load_html(path: Path, _: OcrLimits) -> Document:
    return parse_html(decode_html(path.read_bytes()), str(path))


def _markdown(path: Path, _: OcrLimits) -> Document:
    return load_markdown(path)


def _text(path: Path, _: OcrLimits) -> Document:
    return load_text(path)


LOADERS: dict[str, Callable[[Path, OcrLimits], Document]] = {
    ".pdf": _load_pdf,
    ".html": _load_html,
    ".htm": _load_html,
    ".md": _markdown,
    ".markdown": _markdown,
    ".txt": _text,
    ".text": _text,
    ".rst": _text,
}


def load_file(path: Path, ocr: OcrLimits = DEFAULT_OCR) -> Document | Failure:
    """One file; `ocr` bounds the rendering of a PDF's pages without text (RagSettings)."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        return Failure(str(path), f"unsupported file type {path.suffix or '(none)'!r}")
    try:
        return loader(path, ocr)
    except (PdfError, NotText) as e:
        return Failure(str(path), str(e))
    except OSError as e:
        return Failure(str(path), e.strerror or str(e))
    except Exception as e:  # noqa: BLE001 - a parser's surprise stays this file's failure
        return Failure(str(path), f"unreadable file ({type(e).__name__}: {e})")


def load_path(path: Path, ocr: OcrLimits = DEFAULT_OCR) -> Iterator[Document | Failure]:
    """A file, or every supported file under a folder (hidden ones skipped), in name order."""
    path = path.expanduser().resolve()
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
            if child.is_file() and not hidden and child.suffix.lower() in LOADERS:
                yield load_file(child, ocr)
    elif path.exists():
        yield load_file(path, ocr)
    else:
        yield Failure(str(path), "no such file or folder")
