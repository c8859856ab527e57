"""Scanned PDFs: pages without a text layer are read by tesseract when it is installed, and
named in the summary (with what to install) when it is not; never a silent zero chunks."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from harness.documents import hostile_pdf, make_pdf, make_rag, scanned_pdf
from rag import Rag, cli
from rag.embedding import Embedder

SCANNED = ["The lighthouse keeper counted", "seventeen schooners passing", "Kerrow Point in 1911."]


def joined(*pdfs: bytes) -> bytes:
    writer = PdfWriter()
    for data in pdfs:
        for page in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def rag(tmp_path: Path, embedder: Embedder) -> Rag:
    return make_rag(tmp_path / "data", embedder)


@pytest.fixture
def no_tesseract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs tesseract-ocr")
def test_scanned_pages_are_read_by_ocr(rag: Rag, tmp_path: Path) -> None:
    pdf = tmp_path / "logbook.pdf"
    text_page = make_pdf(["The harbour master keeps the tide tables."])
    pdf.write_bytes(joined(text_page, scanned_pdf(SCANNED), make_pdf([""])))
    summary = rag.ingest([pdf], "scans")
    assert summary.added == [str(pdf)] and not summary.failed
    best = rag.retrieve("How many schooners passed Kerrow Point?", "scans", k=1)[0]
    assert best.page == 2 and "schooners" in best.text and "Kerrow" in best.text
    [listed] = rag.documents("scans")
    assert listed.ocr_pages == (2,)


def test_without_tesseract_a_scan_fails_naming_pages_and_what_to_install(
        rag: Rag, tmp_path: Path, no_tesseract: None) -> None:
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(joined(scanned_pdf(SCANNED), scanned_pdf(["Second page."])))
    summary = rag.ingest([pdf], "scans")
    assert not summary.added and summary.chunks == 0
    [failure] = summary.failed
    assert "pages 1-2" in failure.reason and "apt-get install tesseract-ocr" in failure.reason


def test_without_tesseract_text_pages_are_added_and_the_rest_named(
        rag: Rag, tmp_path: Path, no_tesseract: None,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = tmp_path / "mixed.pdf"
    pdf.write_bytes(joined(make_pdf(["Tide tables for the harbour."]), scanned_pdf(SCANNED),
                           make_pdf([""])))
    monkeypatch.setattr(cli, "Rag", lambda: rag)
    assert cli.main(["ingest", str(pdf), "--collection", "mixed"]) == 1
    out = capsys.readouterr().out
    assert "1 added, 0 replaced, 0 unchanged, 1 failed" in out
    assert "page 2: no text layer" in out and "apt-get install tesseract-ocr" in out
    assert "page 3" not in out  # blank, not scanned
    assert [d.chunks for d in rag.documents("mixed")] == [1]


def test_a_pdf_declaring_thousands_of_huge_pages_fails_fast_naming_the_caps(
        rag: Rag, tmp_path: Path) -> None:
    """30 KB, 5,000 pages of 200 x 200 inches and no text layer: one page rendered for OCR
    would be 1.3 GB of pixels. None is rendered; the failure names both settings."""
    pdf = tmp_path / "huge.pdf"
    pdf.write_bytes(hostile_pdf(5000, 14400, 14400))
    started = time.monotonic()
    summary = rag.ingest([pdf], "hostile")
    assert time.monotonic() - started < 60
    assert not summary.added and summary.chunks == 0
    [failure] = summary.failed
    assert "pages 1-100: no text layer, and too large to render" in failure.reason
    assert "RAG_OCR_MAX_PIXELS" in failure.reason
    assert "pages 101-5000: no text layer, and not rendered: over RAG_OCR_MAX_PAGES" in (
        failure.reason)


def test_text_pages_are_added_and_an_oversized_scan_named(rag: Rag, tmp_path: Path) -> None:
    pdf = tmp_path / "poster.pdf"
    pdf.write_bytes(joined(make_pdf(["The harbour master keeps the tide tables."]),
                           hostile_pdf(1, 14400, 14400, b"0 0 m 9000 9000 l 50 50 re f")))
    summary = rag.ingest([pdf], "poster")
    assert summary.added == [str(pdf)]
    [failure] = summary.failed
    assert "added only the pages with text" in failure.reason
    assert "page 2: no text layer, and too large to render (14400 x 14400 pt" in failure.reason
