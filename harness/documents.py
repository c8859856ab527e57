"""Documents built on the spot (PDFs, web pages), a small web site serving them on loopback,
and a `Rag` set up to crawl it without waiting."""

from __future__ import annotations

import io
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import EncryptionMethod
from PIL import Image, ImageDraw, ImageFont

from rag import Rag
from rag.embedding import Embedder
from rag.settings import RagSettings


def make_pdf(pages: list[str], title: str = "", password: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    if title:
        pdf.set_title(title)
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password,
                           encryption_method=EncryptionMethod.RC4)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def scanned_pdf(lines: list[str]) -> bytes:
    """A page that is only a picture of text, as a scanner makes it (A4 at 150 dpi)."""
    image = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    for row, line in enumerate(lines):
        draw.text((120, 150 + 70 * row), line, fill=0, font=font)
    png = io.BytesIO()
    image.save(png, "PNG")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(png, x=0, y=0, w=210, h=297)
    return bytes(pdf.output())


def image_only_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_fill_color(40, 40, 40)
    pdf.rect(20, 20, 120, 80, style="F")
    return bytes(pdf.output())


# A route answers (status, headers, body); a callable route runs per request.
Route = tuple[int, dict[str, str], bytes] | Callable[[], tuple[int, dict[str, str], bytes]]


def html_page(title: str, body: str, links: list[str] = ()) -> bytes:  # type: ignore[assignment]
    nav = "".join(f'<a href="{href}">{href}</a> ' for href in links)
    return (
        f"<html><head><title>{title}</title><style>p {{color: red}}</style>"
        f"<script>var tracking = 'SCRIPTTEXT';</script></head><body>"
        f"<nav>NAVTEXT {nav}</nav><main><h1>{title}</h1>{body}</main>"
        f"<footer>FOOTERTEXT</footer></body></html>"
    ).encode()


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1; yields its base URL. Unknown paths are 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            route = routes.get(self.path)
            if route is None:
                status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
            else:
                status, headers, body = route() if callable(route) else route
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # the slow page's client gives up on purpose: a broken pipe is expected

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def slow(seconds: float, route: tuple[int, dict[str, str], bytes]) -> Route:
    def answer() -> tuple[int, dict[str, str], bytes]:
        time.sleep(seconds)
        return route

    return answer


HTML = {"Content-Type": "text/html; charset=utf-8"}


def redirect(location: str) -> tuple[int, dict[str, str], bytes]:
    return 302, {"Location": location}, b""


def make_rag(data_dir: Path, embedder: Embedder, **settings: object) -> Rag:
    """A `Rag` keeping its data in `data_dir` and sharing `embedder` (loading one is the slow
    part), with no pause between the pages of a crawl and a 2 s fetch timeout: crawling the
    site above stays quick."""
    rag_settings = RagSettings(data_dir=data_dir, crawl_delay=0.0, fetch_timeout=2.0,
                               **settings)  # type: ignore[arg-type]
    return Rag(rag_settings, embedder=embedder)


@contextmanager
def drip(interval: float, body: bytes = b"x" * 600, headers_too: bool = False
         ) -> Iterator[str]:
    """A server on 127.0.0.1 that sends its answer one byte every `interval` seconds (only
    the body, or the status line and headers too), as a hostile site holds a fetch open;
    yields its base URL. It stops sending once the client goes away."""
    import socket

    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    listener = socket.create_server(("127.0.0.1", 0))
    stopped = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if not headers_too:
                    conn.sendall(head)
                for i in range(len(head) if headers_too else 0):
                    conn.sendall(head[i:i + 1])
                    if stopped.wait(interval):
                        return
                for i in range(len(body)):
                    conn.sendall(body[i:i + 1])
                    if stopped.wait(interval):
                        return
            except OSError:
                pass  # the client gave up: what this server is for

    def accept() -> None:
        while not stopped.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stopped.set()
        listener.close()


def hostile_pdf(pages: int, width: float = 612, height: float = 792, content: bytes = b"",
                distinct: bool = False) -> bytes:
    """A PDF written by hand, as an attacker would: `pages` pages of `width` x `height` points
    (14400 is the largest the format allows), all drawing one content stream `content`
    (FlateDecode-compressed, so megabytes of it take a few KB). Unless `distinct`, every page
    is the same page object: 5,000 pages in 30 KB."""
    data = zlib.compress(content, 9)
    page_ids = list(range(4, 4 + pages)) if distinct else [4] * pages
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Contents 3 0 R "
            b"/Resources << /Font << /F1 %s >> >> >>" % (width, height, font))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % i for i in page_ids), pages),
        b"<< /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (len(data), data),
        *[page] * (pages if distinct else 1),
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)
