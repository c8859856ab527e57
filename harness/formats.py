"""Office documents, spreadsheets and e-books built with each format's own library (python-docx,
python-pptx, openpyxl, ebooklib; ODT by hand, as LibreOffice writes it), and hostile ones:
zip bombs and XML entity bombs, for the loader tests, the fuzz run and the benchmarks."""

from __future__ import annotations

import io
import zipfile

import docx
import openpyxl
import pptx
from ebooklib import epub

# (level, text): level 0 is a paragraph, 1.. a heading of that level.
Blocks = list[tuple[int, str]]


def make_docx(blocks: Blocks, title: str = "", table: list[list[str]] | None = None) -> bytes:
    document = docx.Document()
    document.core_properties.title = title
    for level, text in blocks:
        if level:
            document.add_heading(text, level)
        else:
            document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pptx(slides: list[tuple[str, list[str], str]], title: str = "") -> bytes:
    """slides: (title, bullet lines, speaker notes)."""
    deck = pptx.Presentation()
    deck.core_properties.title = title
    for heading, lines, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = heading
        slide.placeholders[1].text_frame.text = "\n".join(lines)
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_xlsx(sheets: dict[str, list[list[object]]], title: str = "") -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    book.properties.title = title
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


ODT_MANIFEST = b"""<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">
 <manifest:file-entry manifest:full-path="/"
  manifest:media-type="application/vnd.oasis.opendocument.text"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"""


def make_odt(blocks: Blocks, title: str = "", table: list[list[str]] | None = None,
             content: bytes | None = None) -> bytes:
    """An ODT as LibreOffice lays it out (mimetype first, stored); `content` replaces the
    generated content.xml."""
    from xml.sax.saxutils import escape

    body = "".join(
        f'<text:h text:outline-level="{level}">{escape(text)}</text:h>' if level
        else f"<text:p>{escape(text)}</text:p>" for level, text in blocks)
    if table:
        rows = "".join("<table:table-row>" + "".join(
            f"<table:table-cell><text:p>{escape(v)}</text:p></table:table-cell>" for v in row)
            + "</table:table-row>" for row in table)
        body += f"<table:table>{rows}</table:table>"
    content = content or (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0">'
        f"<office:body><office:text>{body}</office:text></office:body>"
        "</office:document-content>").encode()
    meta = ('<?xml version="1.0" encoding="UTF-8"?><office:document-meta '
            'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta>'
            f"<dc:title>{escape(title)}</dc:title></office:meta></office:document-meta>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text",
                         compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", content)
        archive.writestr("meta.xml", meta)
        archive.writestr("META-INF/manifest.xml", ODT_MANIFEST)
    return out.getvalue()


def make_epub(chapters: list[tuple[str, str]], title: str = "A book") -> bytes:
    """chapters: (title, XHTML body)."""
    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title(title)
    book.set_language("en")
    items = []
    for number, (heading, body) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=heading, file_name=f"chap_{number}.xhtml", lang="en")
        item.content = f"<html><body><h1>{heading}</h1>{body}</body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    out = io.BytesIO()
    epub.write_epub(out, book)
    return out.getvalue()


def zip_bomb(valid: bytes, member: str, size: int = 2 * 1024**3) -> bytes:
    """`valid` (a DOCX, XLSX, ... file) with `member` replaced by `size` bytes of spaces,
    deflated to about 1/1000th: a few MB on disk that would unpack to gigabytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(valid)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            if info.filename != member:
                archive.writestr(info, source.read(info))
        with archive.open(member, "w", force_zip64=True) as bomb:
            block = b" " * (16 * 1024 * 1024)
            for _ in range(size // len(block)):
                bomb.write(block)
    return out.getvalue()


def replace_member(valid: bytes, member: str, data: bytes) -> bytes:
    """`valid` with one member's bytes replaced (a malformed or hostile XML part)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(valid)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info, data if info.filename == member else source.read(info))
    return out.getvalue()


# The "billion laughs": ten levels of ten references, 10^9 "lol"s if entities are expanded.
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                     .encode() for i in range(1, 10))
          + b"]><lolz>&lol9;</lolz>")


def sample(extension: str) -> bytes | None:
    """A small valid file of each kind built here, by extension; None for the others."""
    lines = ["Lighthouses guide ships past the rocks."]
    return {
        ".docx": lambda: make_docx([(1, "Lighthouses"), (0, lines[0])]),
        ".odt": lambda: make_odt([(1, "Lighthouses"), (0, lines[0])]),
        ".pptx": lambda: make_pptx([("Lighthouses", lines, "")]),
        ".xlsx": lambda: make_xlsx({"Lights": [["Name", "Height"], ["Kerrow", 31]]}),
        ".csv": lambda: b"Name,Height\nKerrow,31\n",
        ".epub": lambda: make_epub([("Lighthouses", f"<p>{lines[0]}</p>")]),
    }.get(extension, lambda: None)()
