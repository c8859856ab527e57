"""`rag ingest` on folders of office documents, sheets, books and files it does not read: every
file named with what happened to it, the exit status saying whether anything was added, and
passages citing their slide, sheet or chapter. Real files, embedded Chroma, the real model."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.documents import make_rag
from harness.formats import make_docx, make_epub, make_odt, make_pptx, make_xlsx
from rag import Rag, cli
from rag.embedding import Embedder


@pytest.fixture()
def rag(tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> Rag:
    rag = make_rag(tmp_path / "data", embedder)
    monkeypatch.setattr(cli, "Rag", lambda: rag)
    return rag


def test_a_folder_of_unsupported_files_adds_nothing_and_says_so(
        rag: Rag, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "unsupported"
    folder.mkdir()
    (folder / "logo.png").write_bytes(b"\x89PNG")
    (folder / "slides.key").write_bytes(b"PK")
    (folder / ".hidden.md").write_text("# Hidden\n\nNot looked at.")
    assert cli.main(["ingest", str(folder), "--collection", "none"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "0 added, 0 replaced, 0 unchanged, 0 failed; 0 chunks embedded.",
        "Skipped (not read):",
        f"  {folder / 'logo.png'}: unsupported kind '.png'",
        f"  {folder / 'slides.key'}: unsupported kind '.key'",
        "  (the kinds read: .csv .docx .epub .htm .html .markdown .md .odt .pdf .pptx .rst "
        ".text .txt .xlsx)",
        "Nothing was added: no source gave a document (the reasons are above).",
    ]

    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["ingest", str(empty), "--collection", "none"]) == 1
    assert f"{empty}: folder with no files (hidden ones are not read)" in capsys.readouterr().out


def test_a_mixed_folder_adds_what_it_reads_and_names_the_rest(
        rag: Rag, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "handbook.docx").write_bytes(make_docx(
        [(1, "Ferries"), (0, "The ferry to Kerrow leaves every hour from pier 3."),
         (2, "In winter"), (0, "From November to March only two ferries run each day.")],
        title="Island handbook"))
    (folder / "minutes.odt").write_bytes(make_odt(
        [(1, "Harbour board"), (0, "The board voted to dredge the harbour in spring.")]))
    (folder / "review.pptx").write_bytes(make_pptx(
        [("Quarter in review", ["Revenue grew by twelve percent"], ""),
         ("Next quarter", ["Open the Kerrow route in April"], "Mention the weather risk.")]))
    (folder / "prices.xlsx").write_bytes(make_xlsx(
        {"Tickets": [["Route", "Adult", "Child"], ["Fastnet", 18, 9]]}))
    (folder / "book.epub").write_bytes(make_epub(
        [("Arrival", "<p>The island appeared out of the fog at dawn.</p>"),
         ("Lighthouse", "<p>The keeper climbed 120 steps to light the lamp.</p>")]))
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (folder / "todo.txt").write_bytes(b"")
    assert cli.main(["ingest", str(folder), "--collection", "mixed"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("5 added, 0 replaced, 0 unchanged, 0 failed;")
    assert f"  {folder / 'photo.jpg'}: unsupported kind '.jpg'" in out
    assert f"  {folder / 'todo.txt'}: empty file" in out
    assert "Nothing was added" not in out

    def cited(question: str) -> tuple[str, tuple[str, ...]]:
        best = rag.retrieve(question, "mixed", k=1)[0]
        return Path(best.source).name, best.headings

    assert cited("When do ferries run in winter?") == ("handbook.docx", ("Ferries", "In winter"))
    assert cited("weather risk for the new route") == ("review.pptx", ("Slide 2: Next quarter",))
    assert cited("child ticket price to Fastnet") == ("prices.xlsx", ("Sheet: Tickets",))
    assert cited("How many steps did the keeper climb?") == (
        "book.epub", ("Chapter 2: Lighthouse",))
    assert cited("When will the harbour be dredged?") == ("minutes.odt", ("Harbour board",))

    (folder / "broken.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    assert cli.main(["ingest", str(folder), "--collection", "mixed"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("0 added, 0 replaced, 5 unchanged, 1 failed;")
    assert f"  {folder / 'broken.xlsx'}: not a valid XLSX file" in out
