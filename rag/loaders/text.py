"""Plain-text and Markdown files: decoded carefully, binary files refused."""

from __future__ import annotations

from pathlib import Path

from charset_normalizer import from_bytes

from rag.documents import Document, Section
from rag.errors import NotText
from rag.loaders.markdown import sections_from_markdown, title_from_markdown


def decode_text(data: bytes) -> str:
    """UTF-8 when it is; otherwise the charset charset_normalizer finds. NUL bytes, or no
    plausible charset, mean a binary file."""
    if b"\x00" in data[:8192]:
        raise NotText("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise NotText("binary file (no text encoding fits), not text")
    return str(best)


def load_markdown(path: Path) -> Document:
    text = decode_text(path.read_bytes())
    return Document(str(path), title_from_markdown(text) or path.name, sections_from_markdown(text))


def load_text(path: Path) -> Document:
    text = decode_text(path.read_bytes()).strip()
    return Document(str(path), path.name, [Section(text)] if text else [])
