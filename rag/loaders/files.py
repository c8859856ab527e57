"""Local files and folders: PDF, HTML, Markdown and plain text, chosen by extension."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from rag.documents import Document, Failure
from rag.loaders.html import decode_html, parse_html
from rag.loaders.pdf import PdfError, parse_pdf
from rag.loaders.text import NotText, load_markdown, load_text


def _load_pdf(path: Path) -> Document:
    return parse_pdf(path.read_bytes(), str(path), path.name)


def _load_html(path: Path) -> Document:
    return parse_html(decode_html(path.read_bytes()), str(path))


LOADERS: dict[str, Callable[[Path], Document]] = {
    ".pdf": _load_pdf,
    ".html": _load_html,
    ".htm": _load_html,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".text": load_text,
    ".rst": load_text,
}


def load_file(path: Path) -> Document | Failure:
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        return Failure(str(path), f"unsupported file type {path.suffix or '(none)'!r}")
    try:
        return loader(path)
    except (PdfError, NotText) as e:
        return Failure(str(path), str(e))
    except OSError as e:
        return Failure(str(path), e.strerror or str(e))
    except Exception as e:  # noqa: BLE001 - a parser's surprise stays this file's failure
        return Failure(str(path), f"unreadable file ({type(e).__name__}: {e})")


def load_path(path: Path) -> Iterator[Document | Failure]:
    """A file, or every supported file under a folder (hidden ones skipped), in name order."""
    path = path.expanduser().resolve()
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
            if child.is_file() and not hidden and child.suffix.lower() in LOADERS:
                yield load_file(child)
    elif path.exists():
        yield load_file(path)
    else:
        yield Failure(str(path), "no such file or folder")
