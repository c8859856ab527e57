"""One embedding model per test session: loading it is the slow part."""

from __future__ import annotations

import pytest

from rag.embedding import Embedder
from rag.settings import RagSettings


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    """The default backend (ONNX int8), exported once into a session folder."""
    settings = RagSettings(data_dir=tmp_path_factory.mktemp("models-data"))
    embedder = Embedder(settings)
    embedder.embed(["warm up"])
    return embedder

