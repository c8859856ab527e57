"""EPUB books with ebooklib: the chapters in reading order (the spine), each read as HTML
(rag.loaders.html: all its text, headings kept) under "Chapter N: its title" (the table of contents'
title, else the chapter's own), so a passage cites its chapter.

ebooklib reads every part of the book into memory and parses its XML with entities not
resolved; the zip is checked first (rag.loaders.zipped)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag

import ebooklib
from ebooklib import epub

from rag.documents import Document, Section
from rag.loaders.html import decode_html, parse_content_html
from rag.loaders.zipped import check_zip, reading

# ebooklib warns about its own future defaults on every book read.
logging.getLogger("ebooklib").setLevel(logging.ERROR)


def _toc_titles(entries: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """(file name, title) for the table of contents' entries, nested ones included."""
    for entry in entries:
        if isinstance(entry, tuple | list):  # (Section, [children])
            head, *rest = entry
            yield from _toc_titles([head])
            for children in rest:
                yield from _toc_titles(children)
        elif getattr(entry, "href", None) and getattr(entry, "title", None):
            yield unquote(urldefrag(entry.href)[0]), " ".join(str(entry.title).split())


def load_epub(path: Path) -> Document:
    check_zip(path, "EPUB")
    with reading("EPUB"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = epub.read_epub(str(path), options={"ignore_ncx": False})
        titles: dict[str, str] = {}
        for href, title in _toc_titles(book.toc):
            titles.setdefault(href.rsplit("/", 1)[-1], title)
        sections: list[Section] = []
        chapter = 0
        for idref, *_ in book.spine:
            item = book.get_item_with_id(idref)
            if (item is None or item.get_type() != ebooklib.ITEM_DOCUMENT
                    or isinstance(item, epub.EpubNav) or "nav" in item.properties):
                continue  # the table of contents is no chapter
            page = parse_content_html(decode_html(item.get_content()), str(path))
            if not page.text.strip():
                continue  # a cover or a blank page is no chapter
            chapter += 1
            name = titles.get(item.get_name().rsplit("/", 1)[-1]) or (
                page.title if page.title != str(path) else "")
            head = f"Chapter {chapter}: {name}" if name else f"Chapter {chapter}"
            for s in page.sections:
                # The chapter's own first heading is its title again.
                headings = s.headings[1:] if s.headings[:1] == (name,) else s.headings
                sections.append(Section(s.text, (head, *headings)))
        found = book.get_metadata("DC", "title")
        title = " ".join(str(found[0][0]).split()) if found and found[0][0] else ""
    return Document(str(path), title or path.name, sections)
