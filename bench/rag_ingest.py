"""Ingestion throughput end to end (`Rag.ingest` on local HTML files: extraction, chunking,
embedding, Chroma and FTS writes) against raw `SentenceTransformer.encode` of the very same
chunks, in one run. The ratio shows what everything but the model costs.

    .venv/bin/python bench/rag_ingest.py [--pages 12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rag_corpus import PAGES, page_file, require_corpus  # noqa: E402
from rag import Rag  # noqa: E402
from rag.chunking import Chunker, embedding_text  # noqa: E402
from rag.loaders.files import load_file  # noqa: E402
from rag.settings import RagSettings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=12)
    args = parser.parse_args()
    require_corpus()
    files = [page_file(p) for p in PAGES[: args.pages]]
    with tempfile.TemporaryDirectory() as data:
        rag = Rag(RagSettings(data_dir=Path(data)))
        embedder = rag.embedder
        embedder.embed(["warm up"])
        rag.collections()  # open the store before timing, as a long-lived app would
        started = time.perf_counter()
        summary = rag.ingest(files, "ingest-bench")
        end_to_end = summary.chunks / (time.perf_counter() - started)

        chunker = Chunker(embedder.tokenizer, embedder.max_tokens,
                          rag.settings.chunk_tokens, rag.settings.chunk_overlap)
        texts = [embedding_text(c.context, c.text)
                 for f in files for c in chunker.split(load_file(f))]  # type: ignore[arg-type]
        started = time.perf_counter()
        embedder.model.encode(texts, batch_size=rag.settings.embed_batch_size,
                              normalize_embeddings=True)
        raw = len(texts) / (time.perf_counter() - started)
    print(f"{len(files)} pages, {summary.chunks} chunks, backend {rag.settings.embed_backend}")
    print(f"end to end (rag ingest): {end_to_end:.1f} chunks/s")
    print(f"raw model.encode:        {raw:.1f} chunks/s")
    print(f"ratio: {end_to_end / raw:.2f}")


if __name__ == "__main__":
    main()
