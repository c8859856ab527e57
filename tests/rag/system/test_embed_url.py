"""EMBED_URL: rag's vectors from llmserver's `/v1/embeddings` (a real process on loopback)
instead of a model loaded here; the same passages, and collections that open either way."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.documents import make_rag
from harness.processes import free_port, llmserver
from rag import Rag, RagError
from rag.embedding import Embedder, EmbeddingError
from rag.settings import RagSettings

KEY = "rag-embed-key"
DOCUMENTS = {
    "tides.md": "# Tides\n\nTides are the rise and fall of sea levels caused by the Moon's "
                "gravity and the rotation of the Earth. Spring tides come at new and full moon.",
    "bread.md": "# Bread\n\nSourdough bread rises with wild yeast and lactic acid bacteria. "
                "The starter is fed flour and water every day.\n\n" + "Knead the dough. " * 150,
    "rust.md": "# Rust\n\nIron rusts when it reacts with oxygen and water, forming iron oxide. "
               "Salt water speeds the corrosion of steel ships.",
}
QUESTIONS = ["What causes the tides?", "How is sourdough leavened?", "Why do ships corrode?"]


@pytest.fixture(scope="module")
def server(embedder: Embedder) -> Iterator[str]:
    """llmserver embedding with the export the session's `embedder` made (the same files)."""
    with llmserver(LLM_N_CTX="1024", LLM_API_KEY=KEY,
                   DATA_DIR=str(embedder.settings.data_dir)) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("documents")
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text)
    return folder


def remote_settings(data_dir: Path, url: str, key: str | None = KEY) -> RagSettings:
    return RagSettings(data_dir=data_dir, embed_url=url, embed_api_key=key)


def answers(rag: Rag) -> list[list[tuple[str, str, float]]]:
    return [[(p.source, p.text, p.score) for p in rag.retrieve(q, "docs", k=3)]
            for q in QUESTIONS]


def test_ingest_and_retrieve_through_embed_url_give_the_local_passages(
        server: str, embedder: Embedder, documents: Path, tmp_path: Path) -> None:
    local = make_rag(tmp_path / "local", embedder)
    remote = Rag(remote_settings(tmp_path / "remote", server))
    local_summary = local.ingest([documents], "docs")
    remote_summary = remote.ingest([documents], "docs")
    assert sorted(remote_summary.added) == sorted(local_summary.added)
    assert remote_summary.chunks == local_summary.chunks > len(DOCUMENTS)
    expected = answers(local)
    assert answers(remote) == expected
    # Either way the collection records the same model, so each opens with the other.
    assert remote.collection("docs").model == local.collection("docs").model == "all-MiniLM-L6-v2"
    assert answers(Rag(remote_settings(tmp_path / "local", server))) == expected
    assert answers(make_rag(tmp_path / "remote", embedder)) == expected


def test_the_remote_vectors_are_the_local_ones(server: str, embedder: Embedder,
                                               tmp_path: Path) -> None:
    remote = Embedder(remote_settings(tmp_path, server))
    texts = [*DOCUMENTS.values(), *QUESTIONS]
    assert (remote.embed(texts) == embedder.embed(texts)).all()
    ids = embedder.encode(texts)
    assert (remote.embed_ids(ids) == embedder.embed_ids(ids)).all()
    assert (remote.name, remote.dim, remote.max_tokens) == \
        (embedder.name, embedder.dim, embedder.max_tokens)


def test_a_wrong_key_is_named(server: str, tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match=f"{server}/embeddings .*401.*EMBED_API_KEY"):
        Embedder(remote_settings(tmp_path, server, key="wrong")).embed(["hello"])


def test_a_server_that_is_down_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EmbeddingError, match=f"cannot reach .* {url}/embeddings"):
        Embedder(remote_settings(tmp_path, url)).embed(["hello"])
    # Through rag's interface it is a RagError, with the same reason.
    with pytest.raises(RagError, match=f"{url}/embeddings"):
        Rag(remote_settings(tmp_path, url)).retrieve("hello", "docs")


@contextmanager
def fake_embeddings(answer: dict[str, object]) -> Iterator[str]:
    """An OpenAI-style endpoint that answers every POST with `answer`: a server that is not
    llmserver and serves some other model."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("model, dim, message", [
    ("all-MiniLM-L6-v2", 3, r"answered 1 vectors of \[3\] dimensions .* gives 384"),
    ("text-embedding-3-small", 384, "embedded with 'text-embedding-3-small', not "
                                    "'all-MiniLM-L6-v2'"),
], ids=["dimension", "model"])
def test_another_model_s_vectors_are_refused(tmp_path: Path, model: str, dim: int,
                                             message: str) -> None:
    answer = {"object": "list", "model": model, "usage": {"prompt_tokens": 2, "total_tokens": 2},
              "data": [{"object": "embedding", "index": 0, "embedding": [0.5] * dim}]}
    with fake_embeddings(answer) as url, pytest.raises(EmbeddingError, match=message) as error:
        Embedder(remote_settings(tmp_path, url)).embed(["hello"])
    assert f"{url}/embeddings" in str(error.value)
