"""A fuzz run of the document loaders (hypothesis): PDFs and HTML pages mutated byte by byte
(flips, cuts, insertions, repeated spans, swapped structure keywords) are loaded as an upload
would be; so are CSV files, and DOCX, ODT, PPTX, XLSX and EPUB files mutated either as a
whole (the zip) or in one of their XML parts, zipped again (what reaches the parsers).
Every one gives a Document or a clean per-document Failure, never an exception and never a
hang; the number of inputs tried is printed (`-s`) and recorded in docs/reliability.md."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.documents import hostile_pdf, html_page, make_pdf
from harness.formats import make_docx, make_epub, make_odt, make_pptx, make_xlsx, replace_member
from rag.documents import Document, Failure
from rag.loaders.files import load_file

SEEDS = {
    ".pdf": [make_pdf(["A first page about lighthouses.", "A second page about ferries."],
                      title="Seed"), make_pdf(["Only one page."]),
             # written by hand: one page object drawn as three huge pages (the page walk, the
             # content-size check and the OCR caps get mutated structure to chew on)
             hostile_pdf(3, 14400, 14400, b"BT /F1 12 Tf 10 10 Td (Kerrow) Tj ET")],
    ".html": [html_page("Seed", "<h2>Part</h2><p>Text <b>bold</b> and a <a href='/x'>link"
                        "</a>.</p><table><tr><td>cell</td></tr></table>", links=["/a"]),
              b"<!doctype html><html><body><ul><li>one<li>two</ul><pre>code</pre>"],
}
BLOCKS = [(1, "Lights"), (0, "Kerrow light is 31 m tall."), (2, "Keepers"), (0, "Two & a dog.")]
TABLE = [["Name", "Height"], ["Kerrow", "31"]]
ZIPPED = {
    ".docx": [make_docx(BLOCKS, title="Seed", table=TABLE)],
    ".odt": [make_odt(BLOCKS, title="Seed", table=TABLE)],
    ".pptx": [make_pptx([("Lights", ["Kerrow", "Fastnet"], "notes"), ("Keepers", ["Two"], "")])],
    ".xlsx": [make_xlsx({"Lights": [["Name", "Height"], ["Kerrow", 31], ["Fastnet", 54.5]],
                         "Notes": [["free text", None, "more"]]})],
    ".epub": [make_epub([("Lights", "<p>Kerrow light.</p><h2>Keepers</h2><p>Two.</p>"),
                         ("Ships", "<table><tr><td>cell</td></tr></table>")])],
}
SEEDS.update(ZIPPED)
SEEDS[".csv"] = [b"Name,Height\nKerrow,31\n\"Fast, net\",54.5\n", b"a;b;c\n1;2;3\n"]
KEYWORDS = [b"obj", b"endobj", b"stream", b"endstream", b"xref", b"trailer", b"/Length",
            b"/Type", b"/Pages", b"<<", b">>", b"<html", b"</", b"<script>", b"<!--", b"&#",
            b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"<!DOCTYPE x [<!ENTITY e \"e\">]>", b"&e;",
            b"PK\x03\x04", b"<w:p>", b"<w:tbl>", b"<text:h>", b"<row>", b"<c t=\"s\">",
            b"<v>", b"\"", b","]
# A loader taking longer than this on a small file is a hang, whatever the machine's load.
HANG_S = 60.0
tried: dict[str, int] = {}


def mutate(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "keyword", "truncate"]))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "repeat":
            span = bytes(data[at:at + draw(st.integers(1, 256))])
            data[at:at] = span * draw(st.integers(1, 20))
        elif kind == "keyword":
            data[at:at] = draw(st.sampled_from(KEYWORDS))
        else:
            del data[at:]
    return bytes(data)


@st.composite
def mutated(draw: st.DrawFn, suffix: str) -> bytes:
    """A seed mutated as a whole; for a zipped kind, mostly one of its parts instead."""
    seed = draw(st.sampled_from(SEEDS[suffix]))
    if suffix not in ZIPPED or draw(st.integers(0, 3)) == 0:
        return mutate(draw, seed)
    with zipfile.ZipFile(io.BytesIO(seed)) as archive:
        parts = sorted(n for n in archive.namelist() if n.endswith((".xml", ".xhtml", ".opf",
                                                                     ".ncx", ".rels")))
        member = draw(st.sampled_from(parts))
        original = archive.read(member)
    return replace_member(seed, member, mutate(draw, original))


def check(tmp_path: Path, suffix: str, data: bytes) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    started = time.monotonic()
    result = load_file(path)
    assert time.monotonic() - started < HANG_S
    assert isinstance(result, Document | Failure)
    if isinstance(result, Failure):
        assert result.reason and "Traceback" not in result.reason
        # The loaders' catch-all keeps an ingestion going whatever a parser raises; the fuzz
        # must still see any exception that reaches it, so that it gets a reason of its own.
        assert not result.reason.startswith("unreadable file ("), result.reason
    else:
        assert all(isinstance(s.text, str) for s in result.sections)
    tried[suffix] = tried.get(suffix, 0) + 1


@pytest.fixture(autouse=True)
def no_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    """OCR of every textless mutant would only time tesseract; the parsers are the target."""
    monkeypatch.setenv("PATH", "/nonexistent")


FUZZ = settings(max_examples=500, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(data=mutated(".pdf"))
def test_mutated_pdfs_load_or_fail_cleanly(tmp_path: Path, data: bytes) -> None:
    check(tmp_path, ".pdf", data)


@FUZZ
@given(data=mutated(".html"))
def test_mutated_html_loads_or_fails_cleanly(tmp_path: Path, data: bytes) -> None:
    check(tmp_path, ".html", data)


FUZZ_FORMATS = settings(FUZZ, max_examples=200)


@FUZZ_FORMATS
@given(data=st.data())
@pytest.mark.parametrize("suffix", [*ZIPPED, ".csv"])
def test_mutated_documents_sheets_and_books_load_or_fail_cleanly(
        tmp_path: Path, suffix: str, data: st.DataObject) -> None:
    check(tmp_path, suffix, data.draw(mutated(suffix)))


def test_inputs_tried() -> None:
    """Runs last in the module: prints how many inputs each loader was given."""
    print("\nloader fuzz: " + ", ".join(f"{n} {kind}" for kind, n in sorted(tried.items())))
    assert tried.get(".pdf", 0) >= 500 and tried.get(".html", 0) >= 500
    assert all(tried.get(kind, 0) >= 200 for kind in [*ZIPPED, ".csv"]), tried
