"""Sections built as a document is walked: text gathered under the current heading path."""

from __future__ import annotations

from rag.documents import Section


class Outline:
    """`heading(level, text)` opens a heading (closing those at its level and below),
    `add(text)` adds a paragraph under the current path, `sections()` gives one Section per
    run of text under the same path. `prefix` heads every path (a slide, a sheet, a
    chapter), so a passage cites where it is."""

    def __init__(self, prefix: tuple[str, ...] = ()) -> None:
        self.prefix = prefix
        self.path: list[tuple[int, str]] = []
        self.lines: list[str] = []
        self.done: list[Section] = []

    def heading(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        self._flush()
        self.path = [(lvl, h) for lvl, h in self.path if lvl < level]
        self.path.append((level, text))

    def add(self, text: str) -> None:
        if text.strip():
            self.lines.append(text.strip())

    def _flush(self) -> None:
        if self.lines:
            self.done.append(Section("\n\n".join(self.lines),
                                     (*self.prefix, *(h for _, h in self.path))))
            self.lines = []

    def sections(self) -> list[Section]:
        self._flush()
        return self.done
