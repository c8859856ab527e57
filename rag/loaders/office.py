"""Word (DOCX) and PowerPoint (PPTX) files, with python-docx and python-pptx.

DOCX: paragraphs and tables in document order, under the headings their styles make
("Title", "Heading 1".."Heading 9"), so a passage cites its section as a PDF's does its
outline. PPTX: one section per slide, headed "Slide N: its title", with its text boxes,
tables (groups included) and speaker notes, so a passage cites its slide.

Both libraries parse XML with lxml, entities not resolved; the zip is checked first
(rag.loaders.zipped)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import docx
import pptx
from docx.table import Table
from docx.text.paragraph import Paragraph
from pptx.enum.shapes import MSO_SHAPE_TYPE

from rag.documents import Document, Section
from rag.loaders.outline import Outline
from rag.loaders.zipped import check_zip, reading

_HEADING_STYLE = re.compile(r"^heading (\d)$", re.IGNORECASE)


def _row_text(cells: Iterable[str]) -> str:
    """A table row as one line; a merged cell repeats in every grid cell it spans: once."""
    kept: list[str] = []
    for cell in cells:
        cell = " ".join(cell.split())
        if cell and (not kept or kept[-1] != cell):
            kept.append(cell)
    return " | ".join(kept)


def _heading_level(paragraph: Paragraph) -> int | None:
    name = paragraph.style.name if paragraph.style is not None else ""
    if name == "Title":
        return 1
    match = _HEADING_STYLE.match(name or "")
    # Below a Title (level 1), "Heading 1" is level 2: a path never loses the title.
    return int(match.group(1)) + 1 if match else None


def load_docx(path: Path) -> Document:
    check_zip(path, "DOCX")
    with reading("DOCX"):
        document = docx.Document(str(path))
        outline = Outline()
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    outline.add(_row_text(cell.text for cell in row.cells))
                continue
            level = _heading_level(block)
            if level is not None:
                outline.heading(level, block.text)
            else:
                outline.add(block.text)
        title = (document.core_properties.title or "").strip()
        sections = outline.sections()
    return Document(str(path), title or _first_heading(sections) or path.name, sections)


def _first_heading(sections: list[Section]) -> str | None:
    return next((s.headings[0] for s in sections if s.headings), None)


def _shape_texts(shapes: Iterable[Any]) -> Iterator[str]:
    """The text of a slide's shapes, groups opened, tables row by row."""
    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                yield _row_text(cell.text for cell in row.cells)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            yield shape.text_frame.text


def load_pptx(path: Path) -> Document:
    check_zip(path, "PPTX")
    with reading("PPTX"):
        deck = pptx.Presentation(str(path))
        sections: list[Section] = []
        for number, slide in enumerate(deck.slides, start=1):
            title_shape = slide.shapes.title
            title = " ".join(title_shape.text_frame.text.split()) if title_shape else ""
            title_id = title_shape.shape_id if title_shape else None
            texts = list(_shape_texts(s for s in slide.shapes if s.shape_id != title_id))
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = slide.notes_slide.notes_text_frame.text.strip()
                if notes:
                    texts.append(f"Notes: {notes}")
            body = "\n\n".join(t.strip() for t in texts if t.strip())
            if body or title:
                heading = f"Slide {number}: {title}" if title else f"Slide {number}"
                sections.append(Section(body or title, (heading,)))
        title = (deck.core_properties.title or "").strip()
    return Document(str(path), title or path.name, sections)
