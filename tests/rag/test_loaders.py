"""Loaders on real files and a real HTTP server on loopback; no embedding model needed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.documents import HTML, html_page, image_only_pdf, make_pdf, redirect, serve, slow
from rag import Rag
from rag.documents import Document, Failure, Skipped
from rag.loaders import files
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
    assert set(results) == {"good.pdf", "secret.pdf", "scan.pdf", "garbage.pdf", "truncated.pdf",
                            "ignored.bin"}
    assert results["ignored.bin"] == Skipped(str(tmp_path / "ignored.bin"),
                                             "unsupported kind '.bin'")
    good_doc = results["good.pdf"]
    assert isinstance(good_doc, Document) and good_doc.title == "Fruit"
    assert [(s.page, "pears" in s.text) for s in good_doc.sections] == [(1, False), (2, True)]
    assert "encrypted" in results["secret.pdf"].reason  # type: ignore[union-attr]
    assert "no extractable text" in results["scan.pdf"].reason  # type: ignore[union-attr]
    for name in ("garbage.pdf", "truncated.pdf"):
        assert isinstance(results[name], Failure), name


def test_missing_unsupported_empty_and_too_large_files(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data.numbers").write_bytes(b"PK")
    (tmp_path / "Makefile").write_bytes(b"all:\n")
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "big.txt").write_bytes(b"x" * 101)
    (tmp_path / ".hidden.exe").write_bytes(b"MZ")
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 100)
    reasons = {Path(r.source).name: (type(r), r.reason)  # type: ignore[union-attr]
               for r in load_path(tmp_path)}
    assert reasons == {
        "data.numbers": (Skipped, "unsupported kind '.numbers'"),
        "Makefile": (Skipped, "unsupported kind '(no extension)'"),
        "empty.md": (Skipped, "empty file"),
        "big.txt": (Skipped, "too large: 101 bytes, over 100"),
    }
    [missing] = load_path(tmp_path / "nope")
    assert isinstance(missing, Failure) and "no such" in missing.reason
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / ".DS_Store").write_bytes(b"x")
    assert list(load_path(tmp_path / "nothing")) == [
        Skipped(str(tmp_path / "nothing"), "folder with no files (hidden ones are not read)")]


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


# --- hostile documents: super-linear patterns and PDFs that declare far more than they hold


def test_markdown_headings_read_as_the_former_pattern_did_in_linear_time() -> None:
    """The heading pattern r"^(#{1,6})\\s+(.+?)\\s*#*\\s*$" backtracked cubically (1.6 s on
    "# a", 1,000 spaces and "!"; 10 KB about half an hour). Its string-code replacement gives
    the same level and text on every short line, and takes microseconds on 100 KB."""
    import random
    import re
    import time

    from rag.loaders.markdown import _heading, sections_from_markdown

    former = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
    rnd = random.Random(7)
    for _ in range(20_000):
        line = "#" * rnd.randint(0, 8) + "".join(
            rnd.choice("# \t\u00a0a!\x0b") for _ in range(rnd.randint(0, 10)))
        match = former.match(line)  # short lines: the old pattern is quick enough here
        assert _heading(line) == ((len(match[1]), match[2]) if match else None), repr(line)
    started = time.perf_counter()
    hostile = "# a" + " " * 100_000 + "!"
    [section] = sections_from_markdown(hostile + "\nbody")
    assert section.headings == (hostile[2:],) and time.perf_counter() - started < 0.5


def _child_peak_mb(code: str) -> tuple[str, float]:
    """Run `code` in a fresh interpreter; (its output, its peak resident memory in MB). The
    child reports its own VmHWM: getrusage's ru_maxrss keeps, across exec, the size of the
    test process it was forked from, and RUSAGE_CHILDREN is the largest of every child this
    test process ever waited for (a llama-server, a browser)."""
    import subprocess
    import sys

    report = ("\nimport sys\n"
              "print(next(line.split()[1] for line in open('/proc/self/status')"
              " if line.startswith('VmHWM:')), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code + report], capture_output=True,
                          text=True, timeout=120, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    return done.stdout, int(done.stderr.strip().splitlines()[-1]) / 1024


def test_pdf_of_thousands_of_huge_pages_is_refused_fast_in_bounded_memory() -> None:
    """30 KB declaring 5,000 pages of 200 x 200 inches, no text layer: rendering one at
    180 dpi would take 1.3 GB. Nothing is rendered: the reason names both caps."""
    import time

    from harness.documents import hostile_pdf

    assert len(hostile_pdf(5000, 14400, 14400)) < 40_000
    started = time.perf_counter()
    out, peak = _child_peak_mb(
        "from harness.documents import hostile_pdf\n"
        "from rag.loaders.pdf import PdfError, parse_pdf\n"
        "try:\n"
        "    parse_pdf(hostile_pdf(5000, 14400, 14400), 'big.pdf', 'big.pdf')\n"
        "except PdfError as e:\n"
        "    print(e)\n")
    assert time.perf_counter() - started < 30
    assert "no extractable text in 5000 page(s)" in out
    assert "pages 1-100: no text layer, and too large to render" in out
    assert "RAG_OCR_MAX_PIXELS" in out and "pages 101-5000" in out
    assert "RAG_OCR_MAX_PAGES" in out
    assert peak < 400, f"{peak:.0f} MB"


def test_ocr_caps_are_the_callers_settings(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """RAG_OCR_MAX_PAGES and RAG_OCR_MAX_PIXELS reach the OCR from the Rag's own settings,
    for files, folders and URLs alike: a library user's RagSettings are obeyed, and the
    environment is read once, by RagSettings."""
    from harness.documents import hostile_pdf
    from rag.ingest import load_sources
    from rag.loaders.ocr import OcrLimits, read_scanned

    scan = hostile_pdf(6, content=b"0 0 m 300 300 l 200 200 re f")  # drawn, no text
    (tmp_path / "scan.pdf").write_bytes(scan)
    monkeypatch.setenv("PATH", "")  # no tesseract: pages are only told blank or not
    monkeypatch.setenv("RAG_OCR_MAX_PAGES", "4")  # overridden by the settings given
    settings = RagSettings(ocr_max_pages=2, ocr_max_pixels=1_000_000)
    with Fetcher(settings) as fetcher:
        for source in (tmp_path / "scan.pdf", tmp_path):  # a file, and a folder holding it
            [failed] = load_sources([source], fetcher, settings, None, 1, [])
            assert isinstance(failed, Failure), failed  # no page gave text
            assert "pages 3-6: no text layer, and not rendered: over RAG_OCR_MAX_PAGES (2 " in (
                failed.reason)
    assert OcrLimits.of(RagSettings()).max_pages == 4  # the environment, through settings
    big = read_scanned(hostile_pdf(1, 4000, 4000), [1], OcrLimits(5, 1_000_000))
    assert big.unread == [1] and "4000 x 4000 pt is over RAG_OCR_MAX_PIXELS" in big.reason


def test_pdf_page_content_page_count_and_time_are_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A 13 KB page holding 4 MB of text operators (pypdf: about half a minute) is not
    extracted; pages past MAX_PAGES and past TEXT_SECONDS are named, not read."""
    import time

    from harness.documents import hostile_pdf
    from rag.loaders import pdf
    from rag.loaders.pdf import PdfError, parse_pdf

    ops = b"BT /F1 12 Tf 10 10 Td (lighthouse keeper) Tj ET\n"
    heavy = hostile_pdf(3, content=ops * 100_000)
    started = time.perf_counter()
    with pytest.raises(PdfError, match=r"pages 1-3 not read: over 2,000,000 bytes of page"):
        parse_pdf(heavy, "heavy.pdf", "heavy.pdf")
    assert time.perf_counter() - started < 10
    monkeypatch.setattr(pdf, "MAX_PAGES", 4)
    doc = parse_pdf(hostile_pdf(12, content=ops), "long.pdf", "long.pdf")
    assert [s.page for s in doc.sections] == [1, 2, 3, 4]
    assert doc.unread == "pages 5-12 not read: over 4 pages per PDF"
    monkeypatch.setattr(pdf, "TEXT_SECONDS", -1.0)
    with pytest.raises(PdfError, match=r"pages 1-12 not read: text extraction .* over -1 s"):
        parse_pdf(hostile_pdf(12, content=ops), "slow.pdf", "slow.pdf")


def test_outline_titles_are_found_in_linear_time() -> None:
    """5,000 outline entries on one page of 1 MB of near-matches: once a pattern per title,
    at most PAGE_ENTRIES str.find calls now. Titles are found whatever their spacing."""
    import time

    from rag.loaders import pdf_structure

    assert pdf_structure._heading_at("x  Getting\n\tstarted now", "Getting started", 0) == 3
    title = ("a " * 99) + "b"
    text = "a " * 500_000
    started = time.perf_counter()
    entries = [("Part", f"{title} {n}") for n in range(pdf_structure.MAX_ENTRIES)]
    sections = pdf_structure.sections({1: text}, {1: entries})
    assert time.perf_counter() - started < 10
    assert [(s.page, s.headings[-1]) for s in sections] == [(1, f"{title} 4999")]
