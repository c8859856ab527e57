"""HTML to a Document: main text only (trafilatura), with headings kept as sections."""

from __future__ import annotations

import trafilatura
from bs4 import BeautifulSoup
from bs4.dammit import UnicodeDammit

from rag.documents import Document
from rag.loaders.markdown import sections_from_markdown, title_from_markdown

# Page furniture that is never main text. Removed before trafilatura sees the page: on short
# pages its heuristics otherwise fall back to keeping everything, menus included.
_BOILERPLATE_TAGS = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form"]


def decode_html(data: bytes, charset: str | None = None) -> str:
    """The HTTP header's charset when given, else the page's own <meta> declaration, else a
    guess: bs4's UnicodeDammit does the last two."""
    known = [charset] if charset else []
    dammit = UnicodeDammit(data, known_definite_encodings=known, is_html=True)
    if dammit.unicode_markup is None:
        return data.decode("utf-8", errors="replace")
    return dammit.unicode_markup


def _fallback_markdown(soup: BeautifulSoup) -> str:
    """trafilatura declines some very short or unusual pages; keep their visible text,
    headings as Markdown, rather than lose the page."""
    body = soup.body or soup
    for level in range(1, 7):
        for h in body.find_all(f"h{level}"):
            h.replace_with(f"\n\n{'#' * level} {h.get_text(' ', strip=True)}\n\n")
    for block in body.find_all(["p", "li", "pre", "div", "tr", "br"]):
        block.insert_after("\n\n")
    return body.get_text()


def parse_html(html: str, source: str) -> Document:
    soup = BeautifulSoup(html, "lxml")
    title = ""
    if soup.title and soup.title.string:
        title = " ".join(soup.title.string.split())
    for tag in soup(_BOILERPLATE_TAGS):
        tag.decompose()
    text = trafilatura.extract(
        str(soup),
        output_format="markdown",
        include_formatting=True,
        include_tables=True,
        include_comments=False,
        include_links=False,
        favor_recall=True,
    ) or _fallback_markdown(soup)
    title = title or title_from_markdown(text) or source
    return Document(source, title, sections_from_markdown(text))
