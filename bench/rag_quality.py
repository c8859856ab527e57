"""Retrieval quality: hit@1 and hit@5, hybrid vs vector-only, on Python's own documentation
served on loopback and ingested by URL.

    .venv/bin/python bench/rag_quality.py [--backend onnx-int8|onnx|torch]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rag_corpus import PAGES, QUESTIONS, hit, require_corpus, served  # noqa: E402
from rag import Rag  # noqa: E402
from rag.settings import RagSettings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="onnx-int8", choices=["onnx-int8", "onnx", "torch"])
    args = parser.parse_args()
    require_corpus()
    with tempfile.TemporaryDirectory() as data, served() as base:
        rag = Rag(RagSettings(data_dir=Path(data), embed_backend=args.backend))
        rag.embedder.embed(["warm up"])
        started = time.perf_counter()
        summary = rag.ingest([f"{base}{page}.html" for page in PAGES], "pydocs")
        elapsed = time.perf_counter() - started
        print(f"backend {args.backend}: ingested {len(summary.added)} pages, {summary.chunks} "
              f"chunks in {elapsed:.1f} s ({summary.chunks / elapsed:.1f} chunks/s), "
              f"{len(summary.failed)} failed")
        print(f"{len(QUESTIONS)} questions, each answered by one page")
        print(f"{'mode':<8} {'hit@1':>6} {'hit@5':>6}")
        for mode in ("hybrid", "vector", "lexical"):
            at1 = at5 = 0
            for question, page in QUESTIONS:
                found = [hit(p.source, page) for p in rag.retrieve(question, "pydocs", 5, mode)]
                at1 += bool(found[:1] and found[0])
                at5 += any(found)
            print(f"{mode:<8} {at1 / len(QUESTIONS):>6.2f} {at5 / len(QUESTIONS):>6.2f}")


if __name__ == "__main__":
    main()
