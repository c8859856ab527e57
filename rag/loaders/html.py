"""HTML to a Document: main text only (trafilatura), with headings kept as sections."""

from __future__ import annotations

import re

import lxml.etree
import lxml.html
import trafilatura
from bs4 import BeautifulSoup
from bs4.dammit import UnicodeDammit

from rag.documents import Document
from rag.loaders.markdown import sections_from_markdown, title_from_markdown

# Page furniture that is never main text. Removed before trafilatura sees the page: on short
# pages its heuristics otherwise fall back to keeping everything, menus included.
_BOILERPLATE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form")
_BOILERPLATE_XPATH = "|".join(f"//{tag}" for tag in _BOILERPLATE_TAGS)
_PARSER = lxml.html.HTMLParser(encoding="utf-8")
# Characters XML cannot hold (NUL, the other C0 controls but tab and newlines, U+FFFE/FFFF):
# lxml builds a tree with them, then refuses them later (trafilatura, tostring), and no page
# is about them. Found by tests/rag/test_loader_fuzz.py.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def decode_html(data: bytes, charset: str | None = None) -> str:
    """The HTTP header's charset when given, else the page's own <meta> declaration, else a
    guess: bs4's UnicodeDammit does the last two."""
    known = [charset] if charset else []
    dammit = UnicodeDammit(data, known_definite_encodings=known, is_html=True)
    if dammit.unicode_markup is None:
        return data.decode("utf-8", errors="replace")
    return dammit.unicode_markup


def _fallback_markdown(tree: lxml.html.HtmlElement) -> str:
    """trafilatura declines some very short or unusual pages; keep their visible text,
    headings as Markdown, rather than lose the page."""
    soup = BeautifulSoup(lxml.html.tostring(tree, encoding="unicode"), "lxml")
    body = soup.body or soup
    for level in range(1, 7):
        for h in body.find_all(f"h{level}"):
            h.replace_with(f"\n\n{'#' * level} {h.get_text(' ', strip=True)}\n\n")
    for block in body.find_all(["p", "li", "pre", "div", "tr", "br"]):
        block.insert_after("\n\n")
    return body.get_text()


def _tree(html: str) -> lxml.html.HtmlElement | None:
    try:
        # Bytes and an explicit parser: lxml refuses str input that declares an encoding.
        return lxml.html.fromstring(_NOT_XML.sub("", html).encode("utf-8"), parser=_PARSER)
    except (lxml.etree.ParserError, ValueError):
        return None  # no markup at all


def parse_content_html(html: str, source: str) -> Document:
    """HTML that is all content (an e-book's chapter): every visible block kept, headings as
    sections, without trafilatura's main-text guess, which drops short chapters' headings."""
    tree = _tree(html)
    if tree is None:
        return Document(source, source, [])
    title = " ".join((tree.findtext(".//title") or "").split())
    for element in tree.xpath("//script|//style"):
        element.drop_tree()
    text = _fallback_markdown(tree)
    return Document(source, title or title_from_markdown(text) or source,
                    sections_from_markdown(text))


def parse_html(html: str, source: str) -> Document:
    tree = _tree(html)
    if tree is None:
        return Document(source, source, [])  # no markup at all: reported as empty
    title = " ".join((tree.findtext(".//title") or "").split())
    for element in tree.xpath(_BOILERPLATE_XPATH):
        element.drop_tree()
    text = trafilatura.extract(
        tree,
        output_format="markdown",
        include_formatting=True,
        include_tables=True,
        include_comments=False,
        include_links=False,
        favor_recall=True,
    ) or _fallback_markdown(tree)
    title = title or title_from_markdown(text) or source
    return Document(source, title, sections_from_markdown(text))
