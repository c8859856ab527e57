"""One embedding model per test session: loading it is the slow part."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Rag
from rag.embedding import Embedder
from rag.settings import RagSettings


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    """The default backend (ONNX int8), exported once into a session folder."""
    settings = RagSettings(data_dir=tmp_path_factory.mktemp("models-data"))
    embedder = Embedder(settings)
    embedder.embed(["warm up"])
    return embedder


def make_rag(data_dir: Path, embedder: Embedder, **settings: object) -> Rag:
    rag_settings = RagSettings(data_dir=data_dir, crawl_delay=0.0, fetch_timeout=2.0,
                               **settings)  # type: ignore[arg-type]
    return Rag(rag_settings, embedder=embedder)
