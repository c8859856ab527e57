"""Web pages (and PDFs or text served over HTTP), with a same-host crawler."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from bs4 import BeautifulSoup

from rag.documents import Document, Failure, Section
from rag.loaders.fetch import Fetcher, FetchError, Response
from rag.loaders.html import parse_html
from rag.loaders.markdown import sections_from_markdown, title_from_markdown
from rag.loaders.ocr import DEFAULT_OCR, OcrLimits
from rag.loaders.pdf import PdfError, parse_pdf
from rag.loaders.text import NotText, decode_text

_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_MARKDOWN_TYPES = {"text/markdown", "text/x-markdown"}
# Links to these are never documents; skipping them saves a request each.
_SKIP_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".css", ".js", ".zip", ".gz",
    ".tar", ".mp3", ".mp4", ".woff", ".woff2", ".ttf", ".exe",
)


def document_from_response(resp: Response, ocr: OcrLimits = DEFAULT_OCR) -> Document:
    """Dispatch on the served content type, not on the URL's look."""
    name = urlsplit(resp.url).path.rsplit("/", 1)[-1] or resp.url
    if resp.content_type in _HTML_TYPES:
        return parse_html(resp.text(), resp.url)
    if resp.content_type == "application/pdf":
        return parse_pdf(resp.body, resp.url, name, ocr)
    if resp.content_type in _MARKDOWN_TYPES:
        text = decode_text(resp.body)
        return Document(resp.url, title_from_markdown(text) or name, sections_from_markdown(text))
    if resp.content_type == "text/plain":
        text = decode_text(resp.body).strip()
        return Document(resp.url, name, [Section(text)] if text else [])
    raise FetchError(f"unsupported content type {resp.content_type or '(none)'!r}")


def load_url(url: str, fetcher: Fetcher) -> Document | Failure:
    try:
        return document_from_response(fetcher.get(url), OcrLimits.of(fetcher.settings))
    except (FetchError, PdfError, NotText) as e:
        return Failure(url, str(e))
    except Exception as e:  # noqa: BLE001 - a parser's surprise stays this page's failure
        return Failure(url, f"unreadable page ({type(e).__name__}: {e})")


def _links(resp: Response) -> list[str]:
    soup = BeautifulSoup(resp.text(), "lxml")
    base = soup.base.get("href") if soup.base and soup.base.get("href") else resp.url
    links = []
    for a in soup.find_all("a", href=True):
        url = urldefrag(urljoin(str(base), str(a["href"]).strip())).url
        if urlsplit(url).scheme in ("http", "https"):
            links.append(url)
    return links


class Crawler:
    """Breadth-first over one host: robots.txt obeyed, sitemap.xml used as extra seeds,
    a delay between requests, at most max_pages fetched."""

    def __init__(self, fetcher: Fetcher, depth: int, max_pages: int, delay: float) -> None:
        self.fetcher = fetcher
        self.depth = depth
        self.max_pages = max_pages
        self.delay = delay
        self.skipped: list[Failure] = []
        self._last_request = 0.0

    def _get(self, url: str) -> Response:
        wait = self._last_request + self.delay - time.monotonic()
        if wait > 0:
            self.fetcher.pause(wait)
        if reason := self.fetcher.halted():
            raise FetchError(reason)
        try:
            return self.fetcher.get(url)
        finally:
            self._last_request = time.monotonic()

    def _robots(self, root: str) -> RobotFileParser:
        robots = RobotFileParser(urljoin(root, "/robots.txt"))
        try:
            robots.parse(self._get(robots.url).text().splitlines())
        except FetchError as e:
            # RFC 9309: no robots.txt (4xx) allows everything; an unreachable one (5xx,
            # timeout) means stay away.
            if e.status is not None and 400 <= e.status < 500:
                robots.allow_all = True
            else:
                robots.disallow_all = True
        return robots

    def _sitemap(self, root: str, robots: RobotFileParser) -> list[str]:
        queue = list(robots.site_maps() or [urljoin(root, "/sitemap.xml")])
        urls: list[str] = []
        for _ in range(10):  # a sitemap index nests sitemaps; a few levels suffice
            if not queue:
                break
            try:
                resp = self._get(queue.pop(0))
            except FetchError:
                continue
            soup = BeautifulSoup(resp.body, "xml")
            for loc in soup.find_all("loc"):
                url = loc.get_text(strip=True)
                parent = loc.parent.name if loc.parent else ""
                (queue if parent == "sitemap" else urls).append(url)
        return urls

    def crawl(self, start: str) -> Iterator[Document | Failure]:
        host = urlsplit(start).netloc.lower()
        robots = self._robots(start)
        crawl_delay = robots.crawl_delay(self.fetcher.settings.user_agent)
        if crawl_delay:
            # The site chooses its Crawl-delay: uncapped, one robots.txt would hold the job
            # (and the worker running it) for as long as it liked.
            cap = self.fetcher.settings.crawl_delay_max
            if float(crawl_delay) > cap:
                self.skipped.append(Failure(
                    robots.url, f"robots.txt asks for a Crawl-delay of {float(crawl_delay):g}s; "
                    f"waited {cap:g}s between pages instead (RAG_CRAWL_DELAY_MAX)"))
            self.delay = max(self.delay, min(float(crawl_delay), cap))
        queue: deque[tuple[str, int]] = deque([(urldefrag(start).url, 0)])
        seen = {queue[0][0]}
        if self.depth > 0:
            for url in self._sitemap(start, robots):
                if url not in seen and urlsplit(url).netloc.lower() == host:
                    seen.add(url)
                    queue.append((url, 1))
        fetched = 0
        while queue and fetched < self.max_pages:
            if reason := self.fetcher.halted():
                break  # the rest is reported as skipped, with the reason, below
            url, depth = queue.popleft()
            if not robots.can_fetch(self.fetcher.settings.user_agent, url):
                self.skipped.append(Failure(url, "disallowed by robots.txt"))
                continue
            fetched += 1
            try:
                resp = self._get(url)
                doc = document_from_response(resp, OcrLimits.of(self.fetcher.settings))
            except (FetchError, PdfError, NotText) as e:
                yield Failure(url, str(e))
                continue
            except Exception as e:  # noqa: BLE001 - one unreadable page, not the whole crawl
                yield Failure(url, f"unreadable page ({type(e).__name__}: {e})")
                continue
            if depth < self.depth and resp.content_type in _HTML_TYPES:
                for link in _links(resp):
                    parts = urlsplit(link)
                    if (
                        link not in seen
                        and parts.netloc.lower() == host
                        and not parts.path.lower().endswith(_SKIP_SUFFIXES)
                    ):
                        seen.add(link)
                        queue.append((link, depth + 1))
            yield doc
        reason = self.fetcher.halted() or "not fetched: --max-pages reached"
        for url, _ in queue:
            self.skipped.append(Failure(url, reason))
