"""One embedding model per test session: loading it is the slow part."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag import export
from rag.embedding import Embedder
from rag.settings import RagSettings


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedder]:
    """The default backend (ONNX int8), exported once into a session folder, which stands
    for the install's export (`make install`) all session: what this machine's Python
    environment holds changes no test."""
    settings = RagSettings(data_dir=tmp_path_factory.mktemp("models-data"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export, "INSTALL_DIR", settings.models_dir)
        embedder = Embedder(settings)
        embedder.embed(["warm up"])
        yield embedder
