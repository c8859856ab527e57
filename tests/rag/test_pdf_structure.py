"""A PDF's outline as headings, and its table of contents and index left out: on real PDFs
made with fpdf2, read back with pypdf."""

from __future__ import annotations

from fpdf import FPDF

from rag.loaders import pdf_structure
from rag.loaders.pdf import parse_pdf

LEADERS = " . . . . . . . . . . . . . . . . "


def _manual() -> bytes:
    """Contents, two chapters (the second with a section starting mid-page), an index."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)

    def page(lines: list[str]) -> None:
        for line in lines:
            pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")

    pdf.add_page()
    page(["Table of Contents"] + [f"{n} Chapter {n}{LEADERS}{n + 1}" for n in range(1, 8)])
    pdf.add_page()
    pdf.start_section("Getting started")
    page(["Getting started", "Install the program by unpacking the archive."])
    pdf.add_page()
    pdf.start_section("Configuration")
    page(["Configuration", "The settings live in one file."])
    pdf.start_section("Colours", level=1)
    page(["Colours", "Set the colour of the prompt with PROMPT_COLOUR."])
    pdf.add_page()
    page(["Index"] + [f"{word}{LEADERS}{n}, {n + 2}" for n, word in enumerate(
        ("archive", "colour", "file", "install", "prompt", "settings"), start=2)])
    return bytes(pdf.output())


def test_outline_headings_split_pages_and_navigation_pages_are_left_out() -> None:
    doc = parse_pdf(_manual(), "manual.pdf", "manual")
    got = [(s.page, s.headings, s.text.splitlines()[0]) for s in doc.sections]
    assert got == [
        (2, ("Getting started",), "Getting started"),
        (3, ("Configuration",), "Configuration"),
        (3, ("Configuration", "Colours"), "Colours"),
    ]
    assert "PROMPT_COLOUR" in doc.sections[2].text
    assert all("Index" not in s.text and "Contents" not in s.text for s in doc.sections)


def test_dot_leaders_are_collapsed_and_a_pdf_that_is_all_index_keeps_its_text() -> None:
    assert pdf_structure.tidy(f"install{LEADERS}3, 5") == "install … 3, 5"
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    for n in range(8):
        pdf.multi_cell(0, 6, f"entry {n}{LEADERS}{n}", new_x="LMARGIN", new_y="NEXT")
    [section] = parse_pdf(bytes(pdf.output()), "index.pdf", "index").sections
    assert "entry 7 … 7" in section.text and ". ." not in section.text


class _Entry:
    def __init__(self, title: str) -> None:
        self.title = title


class _Reader:
    """An outline as a hostile file can have it: thousands of entries, deeply nested."""

    def __init__(self, outline: list) -> None:
        self.outline = outline

    def get_destination_page_number(self, entry: _Entry) -> int:
        return 0


def test_a_huge_or_deep_outline_is_read_only_so_far() -> None:
    wide = pdf_structure.outline(_Reader([_Entry(f"e{n}") for n in range(50_000)]))
    assert len(wide[1]) == pdf_structure.MAX_ENTRIES
    deep: list = [_Entry("bottom")]
    for level in range(200):
        deep = [_Entry(f"level {level}"), deep]
    paths = pdf_structure.outline(_Reader(deep))[1]
    assert max(len(p) for p in paths) == pdf_structure.MAX_DEPTH


def test_patterns_on_hostile_text_finish() -> None:
    # Long runs that a backtracking pattern would try at every position.
    assert pdf_structure.tidy(". " * 100_000 + "x").endswith("x")
    assert not pdf_structure.is_navigation("…" + " " * 100_000 + "x\n" * 3)
    assert not pdf_structure.is_navigation("… 1" + ", 1 " * 100_000 + "x")
