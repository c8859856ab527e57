"""DOCX, ODT, PPTX, XLSX, CSV and EPUB files, built with each format's own library, through the
loaders: headings, slides, sheets and chapters become the heading path a passage cites; zip
bombs, entity bombs, malformed XML and huge sheets are the file's own failure, bounded."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from harness.formats import (
    LAUGHS,
    make_docx,
    make_epub,
    make_odt,
    make_pptx,
    make_xlsx,
    replace_member,
    zip_bomb,
)
from rag.documents import Document, Failure
from rag.loaders import sheets, zipped
from rag.loaders.files import load_file
from rag.store import document_kind

# Generous: a bounded refusal takes milliseconds; an unbounded parse takes minutes or the OOM.
QUICK_S = 20.0


def load(tmp_path: Path, name: str, data: bytes) -> Document | Failure:
    path = tmp_path / name
    path.write_bytes(data)
    started = time.monotonic()
    result = load_file(path)
    assert time.monotonic() - started < QUICK_S
    return result


def outline(doc: Document | Failure) -> list[tuple[tuple[str, ...], str]]:
    assert isinstance(doc, Document), doc
    return [(s.headings, s.text) for s in doc.sections]


def test_docx_keeps_headings_and_tables(tmp_path: Path) -> None:
    data = make_docx([(0, "Read this first."), (1, "Install"), (0, "Run make install."),
                      (2, "On Debian"), (0, "apt-get install tesseract-ocr."),
                      (1, "Use"), (0, "Open the page.")],
                     title="Guide", table=[["Kind", "Size"], ["PDF", "2 MB"], ["PDF", "2 MB"]])
    doc = load(tmp_path, "guide.docx", data)
    assert doc.title == "Guide"
    assert outline(doc) == [
        ((), "Read this first."),
        (("Install",), "Run make install."),
        (("Install", "On Debian"), "apt-get install tesseract-ocr."),
        (("Use",), "Open the page.\n\nKind | Size\n\nPDF | 2 MB\n\nPDF | 2 MB"),
    ]


def test_odt_keeps_headings_lists_and_tables(tmp_path: Path) -> None:
    doc = load(tmp_path, "notes.odt", make_odt(
        [(1, "Ferries"), (0, "Boats leave hourly."), (2, "Winter"), (0, "Two a day.")],
        title="Timetable", table=[["Day", "Boats"], ["Sunday", "2"]]))
    assert doc.title == "Timetable"
    assert outline(doc) == [(("Ferries",), "Boats leave hourly."),
                            (("Ferries", "Winter"), "Two a day.\n\nDay | Boats\n\nSunday | 2")]


def test_pptx_cites_each_slide_with_its_title_and_notes(tmp_path: Path) -> None:
    doc = load(tmp_path, "deck.pptx", make_pptx(
        [("Roadmap", ["Ship version 2", "Hire two people"], "Mention the budget."),
         ("Budget", ["Spend less on cloud"], "")], title="Quarterly plan"))
    assert doc.title == "Quarterly plan"
    assert outline(doc) == [
        (("Slide 1: Roadmap",), "Ship version 2\nHire two people\n\nNotes: Mention the budget."),
        (("Slide 2: Budget",), "Spend less on cloud"),
    ]


def test_xlsx_cites_each_sheet_and_names_columns(tmp_path: Path) -> None:
    doc = load(tmp_path, "prices.xlsx", make_xlsx(
        {"Fruit": [["Name", "Price"], ["Kiwi", 3], ["Fig", 2.5], [None, None]],
         "Notes": [["Prices in euros", None, "2026"]], "Empty": []}))
    assert doc.title == "prices.xlsx"
    assert outline(doc) == [
        (("Sheet: Fruit",), "Name | Price\n\nName: Kiwi, Price: 3\n\nName: Fig, Price: 2.5"),
        (("Sheet: Notes",), "Prices in euros | 2026"),
    ]


def test_csv_rows_with_their_header(tmp_path: Path) -> None:
    doc = load(tmp_path, "cities.csv", b'city;population\nParis;2100000\n"Lyon; Rhone";500000\n')
    assert outline(doc) == [((), "city | population\n\ncity: Paris, population: 2100000\n\n"
                                 "city: Lyon; Rhone, population: 500000")]


def test_epub_cites_chapters_in_reading_order(tmp_path: Path) -> None:
    doc = load(tmp_path, "book.epub", make_epub(
        [("The Sea", "<p>Waves crash all night.</p><h2>Tides</h2><p>The moon pulls them.</p>"),
         ("The Land", "<p>Mountains rise slowly.</p>")], title="Earth"))
    assert doc.title == "Earth"
    assert outline(doc) == [
        (("Chapter 1: The Sea",), "Waves crash all night."),
        (("Chapter 1: The Sea", "Tides"), "The moon pulls them."),
        (("Chapter 2: The Land",), "Mountains rise slowly."),
    ]


VALID = {
    "docx": (lambda: make_docx([(1, "A"), (0, "Text.")]), "word/document.xml"),
    "odt": (lambda: make_odt([(1, "A"), (0, "Text.")]), "content.xml"),
    "pptx": (lambda: make_pptx([("A", ["Text."], "")]), "ppt/slides/slide1.xml"),
    "xlsx": (lambda: make_xlsx({"A": [["Text."]]}), "xl/worksheets/sheet1.xml"),
    "epub": (lambda: make_epub([("A", "<p>Text.</p>")]), "EPUB/content.opf"),
}


@pytest.mark.parametrize("kind", VALID)
def test_zip_bomb_in_a_markup_part_is_refused_unread(tmp_path: Path, kind: str) -> None:
    make, member = VALID[kind]
    bomb = zip_bomb(make(), member, 64 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024  # 64 MB of markup in well under 1 MB
    failure = load(tmp_path, f"bomb.{kind}", bomb)
    assert isinstance(failure, Failure)
    assert failure.reason == (f"{kind.upper()} part {member} unpacks to 67,108,864 bytes, "
                              "over 33,554,432 (a zip bomb?)")


@pytest.mark.parametrize("kind", VALID)
def test_zip_bomb_in_any_part_is_refused_unread(tmp_path: Path, kind: str) -> None:
    """Pictures are not parsed, but a library reads every part into memory all the same."""
    make, _ = VALID[kind]
    bomb = zip_bomb(make(), "media/image1.png", 300 * 1024 * 1024)
    failure = load(tmp_path, f"bomb.{kind}", bomb)
    assert isinstance(failure, Failure)
    assert failure.reason.startswith(f"{kind.upper()} unpacks to 3")
    assert failure.reason.endswith("over 268,435,456 (a zip bomb?)")


@pytest.mark.parametrize("kind", VALID)
@pytest.mark.parametrize("bad", [b"<a><b></a>", LAUGHS, b""], ids=["malformed", "laughs",
                                                                    "empty"])
def test_malformed_and_entity_bomb_xml_fail_with_a_reason(tmp_path: Path, kind: str,
                                                          bad: bytes) -> None:
    make, member = VALID[kind]
    failure = load(tmp_path, f"bad.{kind}", replace_member(make(), member, bad))
    assert isinstance(failure, Failure), kind
    assert kind.upper() in failure.reason and "\n" not in failure.reason
    assert "lol" * 100 not in failure.reason


@pytest.mark.parametrize("kind", VALID)
def test_not_a_zip_and_a_truncated_file_fail_with_a_reason(tmp_path: Path, kind: str) -> None:
    make, _ = VALID[kind]
    assert load(tmp_path, f"text.{kind}", b"just some text") == Failure(
        str(tmp_path / f"text.{kind}"),
        f"not a valid {kind.upper()} file (not a zip archive: File is not a zip file)")
    truncated = load(tmp_path, f"cut.{kind}", make()[:-200])
    assert isinstance(truncated, Failure) and kind.upper() in truncated.reason


def test_an_epub_chapter_of_entities_stays_small(tmp_path: Path) -> None:
    """Chapters are read by the HTML parser, which expands no DTD entities: the chapter is
    a few words of junk, not a billion laughs."""
    data = replace_member(make_epub([("A", "<p>Text.</p>"), ("B", "<p>More text.</p>")]),
                          "EPUB/chap_1.xhtml", LAUGHS)
    doc = load(tmp_path, "laughs.epub", data)
    assert isinstance(doc, Document) and len(doc.text) < 100


def test_many_zip_members_are_refused(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(zipped.MAX_MEMBERS + 1):
            archive.writestr(f"p{i}.bin", b"")
    failure = load(tmp_path, "many.docx", out.getvalue())
    assert failure == Failure(str(tmp_path / "many.docx"), "DOCX holds 10,001 parts, over 10,000")


def test_a_huge_declared_sheet_is_read_as_what_it_holds(tmp_path: Path) -> None:
    """A dimension of 16,384 columns by a million rows would pad every row: it is ignored."""
    data = make_xlsx({"Data": [["Name", "Value"], ["a", 1]]})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
    assert b'<dimension ref="A1:B2"/>' in sheet
    hostile = replace_member(data, "xl/worksheets/sheet1.xml", sheet.replace(
        b'<dimension ref="A1:B2"/>', b'<dimension ref="A1:XFD1048576"/>'))
    assert outline(load(tmp_path, "wide.xlsx", hostile)) == [
        (("Sheet: Data",), "Name | Value\n\nName: a, Value: 1")]


def test_cells_past_the_cap_are_named_not_read(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sheets, "MAX_CELLS", 10)
    doc = load(tmp_path, "big.xlsx", make_xlsx({
        "One": [["k", "v"], *[[f"r{i}", i] for i in range(3)]],  # 8 cells
        "Two": [["x", "y"], ["1", "2"]],  # 2 fit, then the cap
        "Three": [["z"]]}))
    assert isinstance(doc, Document)
    assert [s.headings for s in doc.sections] == [("Sheet: One",), ("Sheet: Two",)]
    assert doc.sections[1].text == "x | y"
    assert doc.unread == "sheet 'Two' from row 2, sheet 'Three' not read: over 10 cells per file"
    csv_doc = load(tmp_path, "big.csv", b"".join(b"%d,%d\n" % (i, i) for i in range(20)))
    assert isinstance(csv_doc, Document) and csv_doc.unread == (
        "rows 6 on not read: over 10 cells per file")


def test_openpyxl_parses_with_defusedxml() -> None:
    """openpyxl uses defusedxml only when it is installed: pyproject names it for that."""
    import openpyxl

    assert openpyxl.DEFUSEDXML is True


def test_each_kind_is_listed_as_itself() -> None:
    assert [document_kind(f"/d/a.{kind}") for kind in ("docx", "odt", "pptx", "xlsx", "csv",
                                                       "epub", "rst")] == [
        "docx", "odt", "pptx", "xlsx", "csv", "epub", "text"]
