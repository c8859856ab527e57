"""What a PDF's pages say about its structure: the headings of its outline (bookmarks), and
which pages are a table of contents or an index.

A manual's outline is the heading path a reader sees in the side bar; given to each run of
text, it reaches the index and the citation as a web page's headings do. A table of contents
or an index names every topic and explains none: its pages would be the first hit for many
questions (R's manuals: their indexes were the first result for 4 of 26 name lookups), so
they are left out of the document. Dot leaders (". . . . 42") become one "…".

Everything here reads untrusted bytes' output: the outline walk is bounded in depth and
entries, at most PAGE_ENTRIES titles are looked for per page, each in linear time, and the
patterns run in linear time (tests/test_regexes.py).
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator

from pypdf import PdfReader

from rag.documents import Section

# Outline entries read at most, and levels followed: a hostile outline can be huge or deep.
MAX_ENTRIES = 5000
MAX_DEPTH = 8
TITLE_CHARS = 200
# Outline entries looked for in one page's text; the rest on that page (a hostile outline
# can put all MAX_ENTRIES on one page of megabytes) still give their heading path.
PAGE_ENTRIES = 100
_SPACES = re.compile(r"\s+")
# Dot leaders: a dot, then three or more, each after at most one space.
_LEADER = re.compile(r"\.(?: ?\.){3,}")
# A line of a table of contents or an index once leaders are collapsed: "entry … 12, 30".
_ENTRY = re.compile(r"…[ \t]*[\dxvli][\d,xvli–\- \t]*$", re.IGNORECASE)
# A page is navigation when at least this many of its lines, and this share, are entries.
NAVIGATION_LINES = 5
NAVIGATION_SHARE = 0.5


def tidy(text: str) -> str:
    return _LEADER.sub("…", text)


def is_navigation(text: str) -> bool:
    """A page of a table of contents or an index (leaders collapsed)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    entries = sum(bool(_ENTRY.search(line)) for line in lines)
    return entries >= NAVIGATION_LINES and entries >= NAVIGATION_SHARE * len(lines)


def outline(reader: PdfReader) -> dict[int, list[tuple[str, ...]]]:
    """Page number (1-based) -> the heading paths of the outline entries that start on it,
    in outline order. {} when the PDF has no outline or an unreadable one."""
    starts: dict[int, list[tuple[str, ...]]] = {}
    count = 0

    def walk(items: list, path: tuple[str, ...]) -> None:
        nonlocal count
        last: str | None = None
        for item in items:
            if count >= MAX_ENTRIES:
                return
            if isinstance(item, list):
                if last is not None and len(path) + 1 < MAX_DEPTH:
                    walk(item, (*path, last))
                continue
            count += 1
            title = " ".join(str(getattr(item, "title", "") or "").split())[:TITLE_CHARS]
            page = reader.get_destination_page_number(item)
            if not title or page is None or page < 0:
                continue
            starts.setdefault(page + 1, []).append((*path, title))
            last = title

    try:
        walk(reader.outline, ())
    except Exception:  # noqa: BLE001 - a broken outline costs the headings, not the text
        return {}
    return starts


class _Printed:
    """A page's text with every run of white space as one space, and the way back to the
    text's own offsets: a title is found with str.find, linear in the page, however its
    words are spaced. (A pattern per title, its words joined by \\s+, cost up to the page's
    length times the title's on near-matches, for each of thousands of entries.)"""

    def __init__(self, text: str) -> None:
        self.flat = _SPACES.sub(" ", text)
        # Per run of white space: where its space is in `flat`, where it ends in `text`,
        # and the characters removed up to its end.
        self.at, self.ends, self.removed = array("q"), array("q"), array("q")
        removed = 0
        for run in _SPACES.finditer(text):
            self.at.append(run.start() - removed)
            removed += run.end() - run.start() - 1
            self.ends.append(run.end())
            self.removed.append(removed)

    def find(self, title: str, start: int) -> int:
        """Where `title`'s words are printed, with any white space between them, in the text
        from offset `start` (not inside a run of white space) on, or -1."""
        words = title.split()
        if not words:
            return -1
        run = bisect_right(self.ends, start) - 1
        found = self.flat.find(" ".join(words), start - (self.removed[run] if run >= 0 else 0))
        if found < 0:
            return -1
        run = bisect_left(self.at, found) - 1  # a title starts with a word, never a space
        return found + (self.removed[run] if run >= 0 else 0)


def _heading_at(text: str, title: str, start: int) -> int:
    """Where `title` is printed in `text` from `start` on (spacing may differ), or -1."""
    return _Printed(text).find(title, start)


def sections(texts: dict[int, str], starts: dict[int, list[tuple[str, ...]]]) -> list[Section]:
    """The pages' text as sections: each page cut where an outline entry's title is printed,
    each part under the heading path in force there. A title not found on its page starts
    at the last cut. Navigation pages are left out."""
    return list(_sections(texts, starts))


def _sections(texts: dict[int, str],
              starts: dict[int, list[tuple[str, ...]]]) -> Iterator[Section]:
    path: tuple[str, ...] = ()
    for number in sorted(texts):
        text = tidy(texts[number])
        if is_navigation(text):
            path = starts[number][-1] if starts.get(number) else path
            continue
        cut = 0
        entries = starts.get(number, [])
        if entries:
            printed = _Printed(text)
            for entry in entries[:PAGE_ENTRIES]:
                at = printed.find(entry[-1], cut)
                if at > cut and text[cut:at].strip():
                    yield Section(text[cut:at].strip(), path, number)
                if at >= cut:
                    cut = at
                path = entry
            path = entries[-1]  # the entries past PAGE_ENTRIES, unsearched, still count
        if text[cut:].strip():
            yield Section(text[cut:].strip(), path, number)
