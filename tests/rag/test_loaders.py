"""Loaders on real files and a real HTTP server on loopback; no embedding model needed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.documents import HTML, html_page, image_only_pdf, make_pdf, redirect, serve, slow
from rag import Rag
from rag.documents import Document, Failure
from rag.loaders.fetch import Fetcher, FetchError
from rag.loaders.files import load_file, load_path
from rag.loaders.web import Crawler, load_url
from rag.settings import RagSettings

SETTINGS = RagSettings(data_dir=Path("unused"), fetch_timeout=1.0, max_fetch_bytes=50_000,
                       crawl_delay=0.0)


def test_html_keeps_main_text_and_headings(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_bytes(html_page("Otters", "<p>Otters hold hands while sleeping.</p>"
                               "<h2>Diet</h2><p>Otters eat sea urchins and crabs.</p>"))
    doc = load_file(page)
    assert isinstance(doc, Document)
    assert doc.title == "Otters"
    assert "hold hands" in doc.text and "sea urchins" in doc.text
    for furniture in ("SCRIPTTEXT", "NAVTEXT", "FOOTERTEXT", "color: red"):
        assert furniture not in doc.text
    assert any(s.headings[-1:] == ("Diet",) and "urchins" in s.text for s in doc.sections)


def test_markdown_sections_ignore_hashes_in_code(tmp_path: Path) -> None:
    md = tmp_path / "n.md"
    md.write_text("# Top\n\nintro\n\n## Sub\n\n```\n# not a heading\n```\n\nbody\n")
    doc = load_file(md)
    assert isinstance(doc, Document)
    assert doc.title == "Top"
    assert [s.headings for s in doc.sections] == [("Top",), ("Top", "Sub")]
    assert "# not a heading" in doc.sections[1].text


def test_text_files_decoded_and_binary_refused(tmp_path: Path) -> None:
    latin = tmp_path / "latin.txt"
    # Long enough for the charset guess to be certain; a few words in latin-1 are ambiguous.
    latin.write_bytes(("Le café était très chaud et la crème brûlée était délicieuse. "
                       "Nous étions à la fenêtre, près de la façade. Où est-ce qu'il va? "
                       * 5).encode("latin-1"))
    binary = tmp_path / "image.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    doc = load_file(latin)
    assert isinstance(doc, Document) and "crème" in doc.text
    failure = load_file(binary)
    assert isinstance(failure, Failure) and "binary" in failure.reason


def test_pdfs_good_and_bad(tmp_path: Path) -> None:
    (tmp_path / "good.pdf").write_bytes(make_pdf(["Page one is about apples.",
                                                  "Page two is about pears."], title="Fruit"))
    (tmp_path / "secret.pdf").write_bytes(make_pdf(["hidden"], password="pw"))
    (tmp_path / "scan.pdf").write_bytes(image_only_pdf())
    (tmp_path / "garbage.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4)
    good = make_pdf(["Some text that is long enough to matter."] * 3)
    (tmp_path / "truncated.pdf").write_bytes(good[: len(good) // 3])
    (tmp_path / "ignored.bin").write_bytes(b"\x00")
    results = {Path(r.source).name: r for r in load_path(tmp_path)}
    assert set(results) == {"good.pdf", "secret.pdf", "scan.pdf", "garbage.pdf", "truncated.pdf"}
    good_doc = results["good.pdf"]
    assert isinstance(good_doc, Document) and good_doc.title == "Fruit"
    assert [(s.page, "pears" in s.text) for s in good_doc.sections] == [(1, False), (2, True)]
    assert "encrypted" in results["secret.pdf"].reason  # type: ignore[union-attr]
    assert "no extractable text" in results["scan.pdf"].reason  # type: ignore[union-attr]
    for name in ("garbage.pdf", "truncated.pdf"):
        assert isinstance(results[name], Failure), name


def test_missing_and_unsupported_files(tmp_path: Path) -> None:
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    assert "unsupported" in load_file(tmp_path / "data.xlsx").reason  # type: ignore[union-attr]
    [missing] = load_path(tmp_path / "nope")
    assert isinstance(missing, Failure) and "no such" in missing.reason


@pytest.fixture(scope="module")
def site() -> str:
    body = "<p>" + "Long text. " * 10_000 + "</p>"
    routes = {
        "/": (200, HTML, html_page("Home", "<p>Welcome home.</p>",
                                   ["/a", "/b", "/private/x", "/missing", "http://127.0.0.2:9/ext",
                                    "/logo.png"])),
        "/a": (200, HTML, html_page("Page A", "<p>Alpha page text.</p>", ["/a/deep"])),
        "/a/deep": (200, HTML, html_page("Deep", "<p>Deep page text.</p>", ["/a/deeper"])),
        "/a/deeper": (200, HTML, html_page("Deeper", "<p>Too deep.</p>")),
        "/b": redirect("/b/"),
        "/b/": (200, HTML, html_page("Page B", "<p>Bravo page text.</p>")),
        "/private/x": (200, HTML, html_page("Private", "<p>Robots say no.</p>")),
        "/from-sitemap": (200, HTML, html_page("Mapped", "<p>Only in the sitemap.</p>")),
        "/robots.txt": (200, {"Content-Type": "text/plain"},
                        b"User-agent: *\nDisallow: /private/\n"),
        "/sitemap.xml": (200, {"Content-Type": "application/xml"},
                         b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/'
                         b'schemas/sitemap/0.9"><url><loc>PLACEHOLDER/from-sitemap</loc></url>'
                         b"</urlset>"),
        "/error": (500, HTML, b"boom"),
        "/loop1": redirect("/loop2"),
        "/loop2": redirect("/loop1"),
        "/slow": slow(3.0, (200, HTML, html_page("Slow", "<p>late</p>"))),
        "/image": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n"),
        "/big": (200, HTML, body.encode()),
        "/latin": (200, {"Content-Type": "text/html; charset=iso-8859-1"},
                   html_page("Latin", "<p>Crème brûlée façade.</p>").decode().encode("latin-1")),
        "/meta-charset": (200, {"Content-Type": "text/html"},
                          b'<html><head><meta charset="windows-1252"><title>Meta</title></head>'
                          b"<body><p>Smart \x93quotes\x94 here, declared in a meta tag.</p>"
                          b"</body></html>"),
        "/paper.pdf": (200, {"Content-Type": "application/pdf"},
                       make_pdf(["Served over HTTP as a PDF."], title="Served")),
        "/to-loopback": redirect("http://127.0.0.2/"),
    }
    with serve(routes) as base:
        routes["/sitemap.xml"] = (200, {"Content-Type": "application/xml"},
                                  routes["/sitemap.xml"][2].replace(b"PLACEHOLDER",  # type: ignore[index]
                                                                    base.encode()))
        yield base


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing", "HTTP 404"),
        ("/error", "HTTP 500"),
        ("/loop1", "redirect loop"),
        ("/slow", "timed out"),
        ("/image", "unsupported content type 'image/png'"),
        ("/big", "too large"),
    ],
)
@pytest.mark.parametrize("guarded", [False, True], ids=["direct", "guarded"])
def test_bad_urls_give_reasons(site: str, path: str, reason: str, guarded: bool) -> None:
    """The same reasons over the plain transport and the address-checking one."""
    rules = {"allow_private": False, "allow": ["127.0.0.1/32"]} if guarded else {}
    with Fetcher(SETTINGS, **rules) as fetcher:  # type: ignore[arg-type]
        result = load_url(site + path, fetcher)
    assert isinstance(result, Failure)
    assert reason in result.reason


def test_url_redirects_charsets_and_pdf(site: str) -> None:
    with Fetcher(SETTINGS) as fetcher:
        b = load_url(site + "/b", fetcher)
        latin = load_url(site + "/latin", fetcher)
        meta = load_url(site + "/meta-charset", fetcher)
        pdf = load_url(site + "/paper.pdf", fetcher)
    assert isinstance(b, Document) and b.source == site + "/b/" and "Bravo" in b.text
    assert isinstance(latin, Document) and "Crème brûlée façade" in latin.text
    assert isinstance(meta, Document) and "\u201cquotes\u201d" in meta.text
    assert isinstance(pdf, Document) and pdf.sections[0].page == 1


def test_private_addresses_refused_on_every_hop(site: str) -> None:
    with Fetcher(SETTINGS, allow_private=False) as fetcher, pytest.raises(FetchError,
                                                                          match="non-public"):
        fetcher.get(site + "/")
    # Allow 127.0.0.1 alone to reach the redirect: its target must still be refused before
    # any connection is made.
    with Fetcher(SETTINGS, allow_private=False, allow=["127.0.0.1/32"]) as fetcher:
        assert fetcher.get(site + "/a").url == site + "/a"
        with pytest.raises(FetchError, match="127.0.0.2"):
            fetcher.get(site + "/to-loopback")


def test_dns_rebinding_never_reaches_a_private_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """The name is public when checked (as the upload endpoint checks a URL before queueing
    it) and loopback when connected: refused before any request is sent."""
    requests: list[str] = []

    def secret() -> tuple[int, dict[str, str], bytes]:
        requests.append("/secret")
        return 200, {"Content-Type": "text/plain"}, b"internal"

    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])  # a public address for the first lookup only

    def rebinding(host: str, port: object, *args: object, **kwargs: object) -> list:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    with serve({"/secret": secret}) as base:
        port = base.rsplit(":", 1)[1]
        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        rag = Rag(SETTINGS)
        rag.check_url(f"http://rebind.test:{port}/secret", allow_private=False)
        page = rag.fetch_page(f"http://rebind.test:{port}/secret", allow_private=False)
    assert isinstance(page, Failure)
    assert page.reason == "refused: rebind.test resolves to non-public 127.0.0.1"
    assert requests == []


def test_crawl_same_host_robots_sitemap_depth(site: str) -> None:
    with Fetcher(SETTINGS) as fetcher:
        crawler = Crawler(fetcher, depth=2, max_pages=50, delay=0.0)
        results = list(crawler.crawl(site + "/"))
    fetched = {r.source.removeprefix(site) for r in results if isinstance(r, Document)}
    failed = {r.source.removeprefix(site) for r in results if isinstance(r, Failure)}
    assert fetched == {"/", "/a", "/a/deep", "/b/", "/from-sitemap"}
    assert failed == {"/missing"}
    assert [s.source.removeprefix(site) for s in crawler.skipped] == ["/private/x"]


def test_crawl_max_pages(site: str) -> None:
    with Fetcher(SETTINGS) as fetcher:
        crawler = Crawler(fetcher, depth=2, max_pages=2, delay=0.0)
        results = list(crawler.crawl(site + "/"))
    assert len(results) == 2
    assert any("max-pages" in s.reason for s in crawler.skipped)
