"""A second documentation set nobody here wrote: the Zsh 5.9 manual as Debian ships it
(package `zsh-doc`, HTML under usr/share/doc/zsh-common/html/), fetched with
`apt-get download` and unpacked with `dpkg-deb -x` under build/bench/zsh/ (nothing else is
fetched), with an answer-level question set written from the pages before any run.

    python3 bench/zsh_corpus.py     # fetch and unpack once; check the question set

The folder holds 186 HTML files, but only 42 of them have content of their own: texi2any
splits the manual by chapter and leaves, for every section, a redirect stub (a page whose
only text is "The node you are looking for is at ...", with a `<meta http-equiv="Refresh">`)
so that old section links keep working. `pages()` is every file that is not such a stub,
less the pure navigation pages: the six generated indexes (Concept-Index, Editor-Functions-
Index, Functions-Index, Options-Index, Style-and-Tag-Index, Variables-Index), the table of
contents (zsh_toc.html) and the "About This Document" help on the navigation buttons
(zsh_abt.html). That leaves 34 pages: the manual's chapters (index.html, the Top node with
the chapter menu, among them), some very long (Completion-System, User-Contributions,
Zsh-Modules, Expansion), and the Zsh FAQ (FAQ.html, FAQ01.html ... FAQ06.html) that Debian
ships alongside.

The questions (bench/zsh_answers.json) are objects with `question`, `facts`, `pages` and
`kind`: "task" (phrased as a user with a problem would ask it, avoiding the page's own terms
where it can), "name" (an exact-name lookup such as "what does NO_CLOBBER do?") or
"unanswerable" (plausible for a zsh user, but not answered by this manual; `facts` and
`pages` are empty). `facts` are alternatives: short strings any one of which, found in an
answer, shows that the answer states what the question is after. `main()` checks that every
answer page is among `pages()` and that every fact appears, case-insensitively and with
whitespace normalised, in the visible text of at least one of its answer pages.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pydoc_corpus import download_deb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "bench" / "zsh"
PACKAGE = "zsh-doc"
HTML_SUBDIR = "usr/share/doc/zsh-common/html"
QUESTIONS_FILE = Path(__file__).resolve().parent / "zsh_answers.json"
NAVIGATION = frozenset({"zsh_toc.html", "zsh_abt.html"})
KINDS = frozenset({"task", "name", "unanswerable"})
_REDIRECT = re.compile(r"<meta\s+http-equiv=\"?refresh\"?", re.IGNORECASE)


@dataclass(frozen=True)
class Question:
    question: str
    facts: tuple[str, ...]
    pages: tuple[str, ...]
    kind: str


def html_dir() -> Path:
    """The unpacked HTML manual, fetching and unpacking it on first use."""
    tree = WORK / "tree"
    html = tree / HTML_SUBDIR
    if not (html / "index.html").is_file():
        deb = download_deb(PACKAGE, WORK / "deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        if not (html / "index.html").is_file():
            sys.exit(f"{deb.name} holds no {HTML_SUBDIR}/index.html")
    return html.resolve()


def _is_content(page: Path) -> bool:
    if page.name in NAVIGATION or page.name.endswith("-Index.html"):
        return False
    return not _REDIRECT.search(page.read_text(encoding="utf-8", errors="replace"))


def pages() -> list[Path]:
    """The pages to ingest: every content page of the manual, sorted by name."""
    return [p for p in sorted(html_dir().glob("*.html")) if _is_content(p)]


def questions() -> list[Question]:
    """The question set, as written in the JSON file."""
    items = json.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))
    return [Question(item["question"], tuple(item["facts"]), tuple(item["pages"]),
                     item["kind"]) for item in items]


class _Text(HTMLParser):
    """The visible text of a page: everything outside <head>, <style> and <script>, with a
    space where a block element starts or ends (inline markup such as <code> or <var> joins
    its text to its neighbours, as a browser shows it)."""

    _HIDDEN = frozenset({"head", "style", "script"})
    _BLOCK = frozenset({"p", "div", "br", "hr", "pre", "blockquote", "dl", "dt", "dd", "ul",
                        "ol", "li", "table", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5",
                        "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        if tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self._hidden:
            self._hidden -= 1
        if tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def visible_text(page: Path) -> str:
    """The page's visible text, case-folded and with whitespace runs made single spaces."""
    parser = _Text()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return _normalise("".join(parser.parts))


def _problems(item: Question, texts: dict[str, str]) -> list[str]:
    label = f"{item.question[:60]!r}"
    if item.kind not in KINDS:
        return [f"{label}: unknown kind {item.kind!r}"]
    if item.kind == "unanswerable":
        return [f"{label}: unanswerable but names facts or pages"] if (
            item.facts or item.pages) else []
    found: list[str] = []
    if not 1 <= len(item.facts) <= 3:
        found.append(f"{label}: {len(item.facts)} facts (want 1 to 3)")
    if not item.pages:
        found.append(f"{label}: no answer page")
    outside = [p for p in item.pages if p not in texts]
    found += [f"{label}: answer page {p} is not among pages()" for p in outside]
    inside = [texts[p] for p in item.pages if p in texts]
    for fact in item.facts:
        if not any(_normalise(fact) in text for text in inside):
            found.append(f"{label}: fact {fact!r} is on none of {', '.join(item.pages)}")
    return found


def main() -> None:
    chosen = pages()
    print(f"{len(chosen)} pages under {chosen[0].parent}")
    texts = {p.name: visible_text(p) for p in chosen}
    items = questions()
    failures = [problem for item in items for problem in _problems(item, texts)]
    seen: set[str] = set()
    for item in items:
        if item.question in seen:
            failures.append(f"{item.question[:60]!r}: asked twice")
        seen.add(item.question)
    kinds = {kind: sum(item.kind == kind for item in items) for kind in sorted(KINDS)}
    answer_pages = {page for item in items for page in item.pages}
    print(f"{len(items)} questions: "
          + ", ".join(f"{count} {kind}" for kind, count in kinds.items())
          + f"; {len(answer_pages)} distinct answer pages of {len(chosen)}")
    unused = sorted(set(texts) - answer_pages)
    if unused:
        print(f"pages no question is answered from: {', '.join(unused)}")
    if failures:
        sys.exit("failures:\n" + "\n".join(failures))
    print("all answer pages are ingested and every fact is on one of its answer pages")


if __name__ == "__main__":
    main()
