"""The ONNX backends give sentence-transformers' vectors on onnxruntime, tokenizers and numpy,
without importing torch."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from rag import export
from rag.chunking import Chunker
from rag.documents import Document, Section
from rag.embedding import Embedder, EmbeddingError, OnnxModel
from rag.export import PRESETS, onnx_export, quantization_preset
from rag.settings import RagSettings

LONG = "too long " * 300  # 600 word pieces: the model reads 256
TEXTS = [
    "Quokkas live on Rottnest Island.",
    "",
    "Crème brûlée, 日本語の文章, Ελληνικά, 🙂 emoji.",
    LONG,
    "The part number is XJ-9000.\n\n" + "More words. " * 40,
    "short",
    "antidisestablishmentarianism " * 50,
] * 2
BATCH = 4  # several batches, each of mixed lengths


def _reference(embedder: Embedder, quantize: bool) -> SentenceTransformer:
    """sentence-transformers on the very ONNX file the backend runs."""
    folder, file_name = onnx_export(embedder.path, embedder.settings.models_dir, quantize)
    return SentenceTransformer(str(folder), backend="onnx", device="cpu",
                               model_kwargs={"file_name": file_name})


@pytest.mark.parametrize("backend", ["onnx-int8", "onnx"])
def test_vectors_equal_sentence_transformers(embedder: Embedder, backend: str) -> None:
    ours = Embedder(RagSettings(data_dir=embedder.settings.data_dir, embed_backend=backend,
                                embed_batch_size=BATCH))
    reference = _reference(embedder, quantize=backend == "onnx-int8")
    assert len(ours.tokenizer.encode(LONG).ids) > 2 * reference.max_seq_length
    assert ours.max_tokens == reference.max_seq_length == 256
    expected = reference.encode(TEXTS, batch_size=BATCH, normalize_embeddings=True)
    vectors = ours.embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), ours.dim)
    assert np.allclose(vectors, expected, atol=1e-5)


def test_torch_backend_equals_sentence_transformers_and_onnx(embedder: Embedder) -> None:
    def make(backend: str) -> Embedder:
        return Embedder(RagSettings(data_dir=embedder.settings.data_dir,
                                    embed_backend=backend, embed_batch_size=BATCH))

    torch, onnx = make("torch"), make("onnx")
    vectors = torch.embed(TEXTS)
    assert np.allclose(vectors, torch.model.model.encode(TEXTS, batch_size=BATCH,
                                                         normalize_embeddings=True), atol=1e-5)
    assert np.allclose(vectors, onnx.embed(TEXTS), atol=1e-5)
    ids = [e.ids for e in torch.tokenizer.encode_batch(TEXTS[:4])]
    assert np.allclose(torch.embed_ids(ids), vectors[:4], atol=1e-5)


def _variant(folder: Path, tmp_path: Path) -> Path:
    """A copy of an exported model to edit the configuration of (its ONNX files linked)."""
    def link_or_copy(source: str, target: str) -> None:
        if source.endswith(".onnx"):
            os.link(source, target)
        else:
            shutil.copy2(source, target)

    variant = tmp_path / "model"
    shutil.copytree(folder, variant, copy_function=link_or_copy)
    return variant


@pytest.mark.parametrize("mode", ["cls", "max", ["mean", "max"]])
def test_pooling_as_sentence_transformers(embedder: Embedder, tmp_path: Path,
                                          mode: str | list[str]) -> None:
    """Other models pool otherwise (EMBED_MODEL): the exported model, told to pool so."""
    folder, file_name = onnx_export(embedder.path, embedder.settings.models_dir, False)
    variant = _variant(folder, tmp_path)
    config = variant / "1_Pooling/config.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"pooling_mode": mode}))
    model = OnnxModel(variant, file_name)
    reference = SentenceTransformer(str(variant), backend="onnx", device="cpu",
                                    model_kwargs={"file_name": file_name})
    texts = ["short", "A longer sentence, padded less than the short one.", ""]
    rows = [e.ids for e in model.tokenizer.encode_batch(texts)]
    width = max(map(len, rows))
    input_ids = np.array([ids + [model.pad_id] * (width - len(ids)) for ids in rows])
    mask = np.array([[1] * len(ids) + [0] * (width - len(ids)) for ids in rows])
    vectors = model.pool(input_ids, mask)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert vectors.shape == (3, model.dim)
    assert np.allclose(vectors, reference.encode(texts, normalize_embeddings=True), atol=1e-5)


def test_unsupported_model_names_the_torch_backend(embedder: Embedder, tmp_path: Path) -> None:
    folder, file_name = onnx_export(embedder.path, embedder.settings.models_dir, False)
    variant = _variant(folder, tmp_path)
    modules = json.loads((variant / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense",
                       "type": "sentence_transformers.models.Dense"})
    (variant / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(EmbeddingError, match="EMBED_BACKEND=torch"):
        OnnxModel(variant, file_name)


def test_tokenizer_shared_between_threads(embedder: Embedder) -> None:
    """Ingests chunk in their loading threads while questions are embedded: one tokenizer
    for all of them, never changed after loading, so none is refused."""
    doc = Document("s", "Title", [Section(" ".join(f"Sentence {i} is plain." for i in range(400)),
                                          ("Heading",))])
    chunker = Chunker(embedder.tokenizer, embedder.max_tokens, 200, 40)
    expected = [c.text for c in chunker.split(doc)]
    with ThreadPoolExecutor(4) as pool:
        splits = [pool.submit(lambda: [c.text for c in chunker.split(doc)]) for _ in range(6)]
        queries = [pool.submit(embedder.embed, TEXTS) for _ in range(3)]
        assert all(s.result() == expected for s in splits)
        assert all(q.result().shape == (len(TEXTS), embedder.dim) for q in queries)


CHILD = """
import sys
from rag.cli import main

assert main(["ingest", sys.argv[1]]) == 0
assert main(["query", "Where do quokkas live?", "-k", "1"]) == 0
heavy = {"torch", "transformers", "optimum", "sentence_transformers"}
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
"""


def test_ingest_and_query_never_import_torch(embedder: Embedder, tmp_path: Path) -> None:
    """A `rag ingest` then a `rag query` with the default backend, in a fresh process."""
    data = tmp_path / "data"
    data.mkdir()
    # The model as `make install` leaves it: exported already.
    (data / "models").symlink_to(embedder.settings.models_dir.resolve())
    doc = tmp_path / "quokkas.md"
    doc.write_text("# Quokkas\n\nQuokkas live on Rottnest Island, off Perth.\n")
    env = {name: value for name, value in os.environ.items()
           if name not in ("CHROMA_URL", "EMBED_BACKEND", "EMBED_MODEL")}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(doc)], cwd=tmp_path, env=env | {"DATA_DIR": str(data)},
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Rottnest" in result.stdout
    assert result.stdout.splitlines()[-1] == "[]"


def test_the_install_export_serves_every_data_dir(embedder: Embedder, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`make install` (rag.export.main) leaves the export in the Python environment; a run
    with a brand-new DATA_DIR uses it: nothing exported, no exporter needed."""
    for name in ("EMBED_ONNX_DIR", "EMBED_MODEL", "EMBED_BACKEND", "EMBED_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "at-install"))
    monkeypatch.setattr(export, "INSTALL_DIR", embedder.settings.models_dir)  # exported
    export.main()
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    fresh = Embedder(RagSettings(data_dir=tmp_path / "new", embed_batch_size=BATCH))
    ours = Embedder(RagSettings(data_dir=embedder.settings.data_dir, embed_batch_size=BATCH))
    assert np.allclose(fresh.embed(TEXTS), ours.embed(TEXTS), atol=1e-6)
    assert not (tmp_path / "at-install").exists()
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(("machine", "portable"), [("x86_64", "avx2"), ("aarch64", "arm64")])
def test_int8_preset_from_the_environment(monkeypatch: pytest.MonkeyPatch, machine: str,
                                          portable: str) -> None:
    """`portable` is the architecture's baseline whatever this CPU offers (an image built on
    an AVX-512 VNNI machine runs on an AVX2 one); a preset's own name is taken as is."""
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setenv("EMBED_INT8_PRESET", "portable")
    assert quantization_preset() == portable
    for preset in PRESETS:
        monkeypatch.setenv("EMBED_INT8_PRESET", preset.upper())
        assert quantization_preset() == preset
    monkeypatch.setenv("EMBED_INT8_PRESET", "native")
    assert quantization_preset() in PRESETS
    monkeypatch.setenv("EMBED_INT8_PRESET", "fastest")
    with pytest.raises(ValueError, match="EMBED_INT8_PRESET='fastest'"):
        quantization_preset()


def test_shipped_export_runs_without_the_exporter(embedder: Embedder, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """As the Docker image does: exported at build time with the portable preset into
    EMBED_ONNX_DIR, then run with sentence-transformers (and torch) not installed."""
    monkeypatch.setenv("EMBED_ONNX_DIR", str(tmp_path / "image"))
    monkeypatch.setenv("EMBED_INT8_PRESET", "portable")
    built = Embedder(RagSettings(data_dir=tmp_path / "build", embed_batch_size=BATCH))
    expected = built.embed(TEXTS)
    _, file_name = onnx_export(built.path, tmp_path / "image", quantize=True)
    assert file_name.endswith(f"int8_{'arm64' if platform.machine() == 'aarch64' else 'avx2'}"
                              ".onnx")
    assert not (tmp_path / "build").exists()

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    run = Embedder(RagSettings(data_dir=tmp_path / "run", embed_batch_size=BATCH))
    assert np.allclose(run.embed(TEXTS), expected, atol=1e-6)
    monkeypatch.setenv("EMBED_INT8_PRESET", "avx512_vnni")
    with pytest.raises(EmbeddingError, match="sentence-transformers, which makes one"):
        Embedder(RagSettings(data_dir=tmp_path / "run")).embed(["a question"])
    assert not (tmp_path / "run").exists()
