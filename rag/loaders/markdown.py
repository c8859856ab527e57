"""Markdown (and the Markdown that HTML extraction produces) split into heading sections."""

from __future__ import annotations

import re

from rag.documents import Section

# Headings are read by `_heading` in plain string code, not by a pattern: the former
# r"^(#{1,6})\s+(.+?)\s*#*\s*$" backtracked cubically on a "# a" line of many spaces then a
# non-space (1.6 s for 1000 spaces, about half an hour for 10 KB), holding the GIL and with
# it every user of the chatbot. `_heading` gives the same level and text in linear time.
_FENCE = re.compile(r"^\s*(```|~~~)")


def _heading(line: str) -> tuple[int, str] | None:
    """(level, text) of an ATX heading line, or None: up to six "#", white space, the text,
    optional closing "#"s. Same result as the pattern above, including its edge cases (a
    line of "#" and spaces only is a heading of one character)."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6:
        return None
    rest = line[level:]
    body = rest.lstrip()
    spaces = len(rest) - len(body)
    if spaces == 0:
        return None
    if not body:
        # All white space: the pattern's lazy text takes the last of it (if two or more).
        return (level, rest[-1]) if spaces >= 2 else None
    # The text ends where only white space, closing "#"s and white space remain; it keeps
    # at least one character (a heading of "#"s is its first "#").
    core = body.rstrip().rstrip("#").rstrip()
    return level, body[:max(1, len(core))]


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
        heading = None if in_fence else _heading(line)
        if heading:
            flush()
            level, title = heading
            path = [(lvl, h) for lvl, h in path if lvl < level]
            path.append((level, title))
        else:
            lines.append(line)
    flush()
    return sections


def title_from_markdown(text: str) -> str | None:
    for line in text.splitlines():
        heading = _heading(line)
        if heading:
            return heading[1]
    return None
