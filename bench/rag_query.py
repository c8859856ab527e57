"""Query latency (query embedding included, hybrid: BM25 + vectors + fusion) at 1k, 10k and
100k chunks. Stored chunks are synthetic: random unit vectors, and 120 words drawn with the
word frequencies of Python's documentation (so BM25 meets common and rare terms as in real
text); queries are the quality benchmark's 50 real questions, embedded by the model.

    .venv/bin/python bench/rag_query.py [--sizes 1000,10000,100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rag_corpus import PAGES, QUESTIONS, page_file, require_corpus  # noqa: E402
from rag.embedding import Embedder  # noqa: E402
from rag.lexical import Row  # noqa: E402
from rag.loaders.files import load_file  # noqa: E402
from rag.retrieval import search  # noqa: E402
from rag.settings import RagSettings  # noqa: E402
from rag.store import NewChunk, Store  # noqa: E402

QUERIES = [question for question, _ in QUESTIONS]


def corpus_words() -> np.ndarray:
    """Every word of the corpus pages, repeats kept: sampling it follows their frequencies."""
    words: list[str] = []
    for page in PAGES:
        doc = load_file(page_file(page))
        words.extend(re.findall(r"\w+", doc.text))  # type: ignore[union-attr]
    return np.array(words)


def fill(store: Store, embedder: Embedder, name: str, size: int, rng: np.random.Generator,
         words: np.ndarray) -> None:
    collection = store.open(name, embedder.name, embedder.dim, create=True)
    per_source = 1000
    for start in range(0, size, per_source):
        count = min(per_source, size - start)
        vectors = rng.standard_normal((count, embedder.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        source = f"synthetic://{start}"
        chunks = []
        for i in range(count):
            text = " ".join(rng.choice(words, 120))
            chunk_id = hashlib.sha1(f"{source}{i}".encode()).hexdigest()
            chunks.append(NewChunk(Row(chunk_id, source, "Synthetic", None, "", "Synthetic",
                                       text), chunk_id, vectors[i]))
        collection.replace_source(source, "h", chunks, "2026-01-01T00:00:00", [])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    require_corpus()
    rng = np.random.default_rng(0)
    vocabulary = corpus_words()
    with tempfile.TemporaryDirectory() as data:
        settings = RagSettings(data_dir=Path(data))
        embedder = Embedder(settings)
        embedder.embed(["warm up"])
        store = Store(settings)
        print(f"{'chunks':>8} {'fill s':>7} {'p50 ms':>7} {'p95 ms':>7} {'vector-only p95':>16}")
        for size in (int(s) for s in args.sizes.split(",")):
            name = f"bench-{size}"
            started = time.perf_counter()
            fill(store, embedder, name, size, rng, vocabulary)
            filled = time.perf_counter() - started
            collection = store.open(name, embedder.name, embedder.dim, create=False)
            timings: dict[str, list[float]] = {"hybrid": [], "vector": []}
            for mode in timings:
                for i in range(args.queries):
                    query = QUERIES[i % len(QUERIES)]
                    t = time.perf_counter()
                    search(collection, embedder, query, 5, mode)  # type: ignore[arg-type]
                    timings[mode].append((time.perf_counter() - t) * 1000)
            hybrid, vector = np.array(timings["hybrid"]), np.array(timings["vector"])
            print(f"{size:>8} {filled:>7.1f} {np.percentile(hybrid, 50):>7.1f} "
                  f"{np.percentile(hybrid, 95):>7.1f} {np.percentile(vector, 95):>16.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
