"""Spreadsheets: XLSX with openpyxl (read-only, streamed row by row, XML parsed by
defusedxml), CSV with the standard library. One section per sheet, headed "Sheet: NAME", so
a passage cites its sheet.

A row is a paragraph. When a sheet's first row is a header (text in every column), each
later row reads "Column: value, Column: value": a passage cut from the middle of a sheet
still says what its numbers are.

A sheet can be huge (a million rows fit in a few MB of XML, and a dimension can declare
16,384 columns of nothing): at most MAX_CELLS non-empty cells are read per file, the rest
named in the document's `unread` reason."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import openpyxl

from rag.documents import Document, Section
from rag.loaders.text import decode_text
from rag.loaders.zipped import check_zip, reading

MAX_CELLS = 500_000


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_CELLS
        self.cut: list[str] = []


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _rows_text(rows: Iterable[Iterable[object]], sheet: str | None, budget: _Budget) -> str:
    lines: list[str] = []
    header: list[str] | None = None
    for number, row in enumerate(rows, start=1):
        cells = [_cell(v) for v in row]
        while cells and not cells[-1]:
            cells.pop()
        filled = sum(1 for c in cells if c)
        if not filled:
            continue
        if filled > budget.left:
            budget.cut.append(f"sheet {sheet!r} from row {number}" if sheet
                              else f"rows {number} on")
            break
        budget.left -= filled
        if header is None and not lines and len(cells) > 1 and all(cells):
            header = cells
            lines.append(" | ".join(cells))
        elif header is not None:
            lines.append(", ".join(f"{header[i]}: {c}" if i < len(header) else c
                                   for i, c in enumerate(cells) if c))
        else:
            lines.append(" | ".join(c for c in cells if c))
    return "\n\n".join(lines)


def _document(path: Path, title: str,
              sheets: Iterator[tuple[str | None, Iterable[Iterable[object]]]]) -> Document:
    """One section per sheet, headed with its name (a CSV's one sheet has none)."""
    budget = _Budget()
    sections: list[Section] = []
    for name, rows in sheets:
        if budget.left <= 0:
            budget.cut.append(f"sheet {name!r}" if name else "the rest")
            continue
        text = _rows_text(rows, name, budget)
        if text:
            sections.append(Section(text, (f"Sheet: {name}",) if name else ()))
    unread = (f"{', '.join(budget.cut)} not read: over {MAX_CELLS:,} cells per file"
              if budget.cut else "")
    return Document(str(path), title or path.name, sections, unread=unread)


def load_xlsx(path: Path) -> Document:
    check_zip(path, "XLSX")
    with reading("XLSX"):
        # data_only: the values Excel last computed, not the formulas.
        book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
        try:
            def sheets() -> Iterator[tuple[str | None, Iterable[Iterable[object]]]]:
                for sheet in book.worksheets:
                    # A declared dimension would pad every row to its width.
                    sheet.reset_dimensions()
                    yield sheet.title, sheet.iter_rows(values_only=True)

            return _document(path, (book.properties.title or "").strip(), sheets())
        finally:
            book.close()


def load_csv(path: Path) -> Document:
    text = decode_text(path.read_bytes())
    with reading("CSV"):
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192])
        except csv.Error:
            dialect = csv.excel
        # A field over csv's limit (128 KiB) is not a spreadsheet cell: csv.Error, a reason.
        rows = csv.reader(io.StringIO(text, newline=""), dialect)
        return _document(path, "", iter([(None, rows)]))
