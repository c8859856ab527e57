"""OpenDocument text (ODT): content.xml read with the safe XML parser, headings
(text:h with their outline level), paragraphs, lists and tables in document order.

Read directly rather than with odfpy (last release 2020): the text of an ODT is one XML part
whose structure takes a few lines to walk, and reading it ourselves keeps the parser's
settings ours (rag.loaders.zipped)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import lxml.etree

from rag.documents import Document
from rag.errors import FormatError
from rag.loaders.outline import Outline
from rag.loaders.zipped import check_zip, parse_xml, reading

TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
DC = "http://purl.org/dc/elements/1.1/"


def _text(element: lxml.etree._Element) -> str:
    """A paragraph's text: <text:s c="N"/> is N spaces, tabs and line breaks are kept;
    annotations (comments) are left out."""
    parts: list[str] = [element.text or ""]
    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag == f"{{{TEXT}}}s":
            parts.append(" " * min(int(child.get(f"{{{TEXT}}}c", "1") or 1), 100))
        elif tag == f"{{{TEXT}}}tab":
            parts.append("\t")
        elif tag == f"{{{TEXT}}}line-break":
            parts.append("\n")
        elif tag != f"{{{OFFICE}}}annotation":
            parts.append(_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _walk(element: lxml.etree._Element, outline: Outline) -> None:
    for child in element:
        if child.tag == f"{{{TEXT}}}h":
            level = child.get(f"{{{TEXT}}}outline-level", "1")
            outline.heading(int(level) if level.isdigit() else 1, _text(child))
        elif child.tag == f"{{{TEXT}}}p":
            outline.add(_text(child))
        elif child.tag == f"{{{TABLE}}}table":
            for row in child.iter(f"{{{TABLE}}}table-row"):
                cells = [" ".join(_text(c).split()) for c in row.iter(f"{{{TABLE}}}table-cell")]
                outline.add(" | ".join(c for c in cells if c))
        elif isinstance(child.tag, str):
            _walk(child, outline)  # lists, sections, frames: their paragraphs in order


def load_odt(path: Path) -> Document:
    check_zip(path, "ODT")
    with reading("ODT"), zipfile.ZipFile(path) as archive:
        root = parse_xml(archive.read("content.xml"))
        body = root.find(f"{{{OFFICE}}}body/{{{OFFICE}}}text")
        if body is None:
            raise FormatError("not an ODT text document (no office:text in content.xml)")
        outline = Outline()
        _walk(body, outline)
        title = ""
        if "meta.xml" in archive.namelist():
            found = parse_xml(archive.read("meta.xml")).find(f".//{{{DC}}}title")
            title = " ".join((found.text or "").split()) if found is not None else ""
        sections = outline.sections()
    first = next((s.headings[0] for s in sections if s.headings), None)
    return Document(str(path), title or first or path.name, sections)
