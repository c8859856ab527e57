"""rag's public interface, as the chat app uses it: checking a URL, reading one page, and
the file kinds it ingests (the same list the chat's upload route accepts). No embedding
model needed; web pages come from a server on loopback."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

import rag
from chatbot import create_app
from harness.documents import HTML, html_page, make_pdf, serve
from harness.formats import sample
from rag import SUPPORTED_EXTENSIONS, Document, Failure, FetchError, Rag, RagSettings
from rag.documents import Skipped
from rag.loaders.files import load_path

SETTINGS = RagSettings(data_dir=Path("unused"), fetch_timeout=2.0)
CHATBOT = Path(__file__).resolve().parents[2] / "chatbot"


@pytest.mark.parametrize(("url", "rules", "reason"), [
    ("file:///etc/passwd", {}, "unsupported URL scheme 'file'"),
    ("http:///no-host", {}, "URL has no host"),
    ("http://127.0.0.1:9/", {"allow_private": False}, "non-public 127.0.0.1"),
    ("http://localhost:9/", {"allow_private": False, "url_allowlist": ["localhost:8080"]},
     "non-public"),
])
def test_check_url_refuses_with_a_reason(url: str, rules: dict, reason: str) -> None:
    with pytest.raises(FetchError, match=reason):
        Rag(SETTINGS).check_url(url, **rules)


@pytest.mark.parametrize("rules", [
    {},
    {"allow_private": False, "url_allowlist": ["127.0.0.0/8"]},
    {"allow_private": False, "url_allowlist": ["localhost:9"]},
])
def test_check_url_accepts(rules: dict) -> None:
    Rag(SETTINGS).check_url("http://localhost:9/", **rules)


def test_fetch_page_reads_html_and_pdf_under_the_guard() -> None:
    routes = {
        "/page": (200, HTML, html_page("Otters", "<p>Otters hold hands while sleeping.</p>")),
        "/paper.pdf": (200, {"Content-Type": "application/pdf"},
                       make_pdf(["Served over HTTP as a PDF."], title="Served")),
    }
    with serve(routes) as base:
        allowed = {"allow_private": False, "url_allowlist": ["127.0.0.1/32"]}
        page = Rag(SETTINGS).fetch_page(base + "/page", **allowed)
        pdf = Rag(SETTINGS).fetch_page(base + "/paper.pdf", **allowed)
        refused = Rag(SETTINGS).fetch_page(base + "/page", allow_private=False)
    assert isinstance(page, Document) and page.title == "Otters"
    assert "hold hands" in page.sections[0].text and page.source == base + "/page"
    assert isinstance(pdf, Document) and pdf.title == "Served"
    assert isinstance(refused, Failure) and "non-public 127.0.0.1" in refused.reason


def test_supported_extensions_are_what_ingesting_a_folder_reads(tmp_path: Path) -> None:
    for extension in SUPPORTED_EXTENSIONS:
        body = make_pdf(["A page."]) if extension == ".pdf" else sample(extension)
        (tmp_path / f"doc{extension}").write_bytes(body or b"<p>Some text.</p>")
    (tmp_path / "doc.numbers").write_bytes(b"PK")
    results = list(load_path(tmp_path))
    loaded = {Path(d.source).suffix for d in results if isinstance(d, Document)}
    assert loaded == SUPPORTED_EXTENSIONS
    assert [(Path(s.source).name, s.reason) for s in results if isinstance(s, Skipped)] == [
        ("doc.numbers", "unsupported kind '.numbers'")]


def test_the_upload_route_accepts_every_supported_extension(tmp_path: Path) -> None:
    """An empty file passes the kind check and is then refused as empty: nothing is stored
    or ingested, and the answer says which check refused it."""
    app = create_app({"data_dir": tmp_path})
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)  # it gives the browser its session
    # The page's file picker offers the same kinds.
    assert f'accept="{",".join(sorted(SUPPORTED_EXTENSIONS))}"' in page

    def refusal(name: str) -> str:
        response = client.post("/documents/files", headers={"Origin": "http://localhost"},
                               data={"collection": "kinds", "files": (io.BytesIO(b""), name)})
        assert response.status_code == 400
        return response.get_json()["error"]

    for extension in sorted(SUPPORTED_EXTENSIONS):
        assert refusal(f"doc{extension.upper()}") == f"doc{extension.upper()} is empty."
    assert "can be added" in refusal("doc.exe")


def test_the_chatbot_imports_only_rags_public_names() -> None:
    for module in sorted(CHATBOT.rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rag"):
                assert node.module == "rag", f"{module.name} imports {node.module}"
                assert {a.name for a in node.names} <= set(rag.__all__), module.name
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("rag.") for a in node.names), module.name
