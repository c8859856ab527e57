"""Markdown (and the Markdown that HTML extraction produces) split into heading sections."""

from __future__ import annotations

import re

from rag.documents import Section

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def sections_from_markdown(text: str) -> list[Section]:
    """One Section per run of text under the same heading path. Headings inside fenced code
    blocks are code, not structure."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            sections.append(Section(body, tuple(h for _, h in path)))
        lines.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            path = [(lvl, h) for lvl, h in path if lvl < level]
            path.append((level, match.group(2)))
        else:
            lines.append(line)
    flush()
    return sections


def title_from_markdown(text: str) -> str | None:
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            return match.group(2)
    return None
