"""Embedding backends side by side: chunks/s and retrieval quality (vector-only hit@1/@5)
for torch, ONNX Runtime float32 and ONNX Runtime int8, on the same chunks in one run.

    .venv/bin/python bench/rag_backends.py [--sample 256]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rag_corpus import PAGES, QUESTIONS, page_file, require_corpus  # noqa: E402
from rag.chunking import Chunker, embedding_text  # noqa: E402
from rag.embedding import Embedder  # noqa: E402
from rag.loaders.files import load_file  # noqa: E402
from rag.settings import RagSettings  # noqa: E402

BACKENDS = ("torch", "onnx", "onnx-int8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=256,
                        help="chunks timed per backend (the quality run embeds them all)")
    args = parser.parse_args()
    require_corpus()
    with tempfile.TemporaryDirectory() as data:
        embedders = {b: Embedder(RagSettings(data_dir=Path(data), embed_backend=b))
                     for b in BACKENDS}
        base = embedders["torch"]
        chunker = Chunker(base.tokenizer, base.max_tokens, 200, 40)
        texts, sources = [], []
        for page in PAGES:
            doc = load_file(page_file(page))
            for chunk in chunker.split(doc):  # type: ignore[arg-type]
                texts.append(embedding_text(chunk.context, chunk.text))
                sources.append(page)
        print(f"{len(texts)} chunks from {len(PAGES)} pages; timing {args.sample} of them")
        rng = np.random.default_rng(0)
        sample = [texts[i] for i in rng.choice(len(texts), args.sample, replace=False)]
        rates = {}
        for name, embedder in embedders.items():
            embedder.embed(sample[:8])
            started = time.perf_counter()
            embedder.embed(sample)
            rates[name] = args.sample / (time.perf_counter() - started)
        print(f"{'backend':<10} {'chunks/s':>9} {'vs torch':>9} {'hit@1':>6} {'hit@5':>6}")
        for name, embedder in embedders.items():
            vectors = embedder.embed(texts)
            questions = embedder.embed([q for q, _ in QUESTIONS])
            at1 = at5 = 0
            for (_, page), q in zip(QUESTIONS, questions, strict=True):
                # Top 5 chunks, as `rag query -k 5 --mode vector` returns them.
                seen = [sources[i] for i in np.argsort(-(vectors @ q))[:5]]
                at1 += seen[0] == page
                at5 += page in seen
            n = len(QUESTIONS)
            print(f"{name:<10} {rates[name]:>9.1f} {rates[name] / rates['torch']:>8.2f}x "
                  f"{at1 / n:>6.2f} {at5 / n:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
