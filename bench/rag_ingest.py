"""Ingestion throughput end to end (`Rag.ingest` on local HTML files: extraction, chunking,
embedding, Chroma and FTS writes) against the raw model (the product's embedder, and
`SentenceTransformer.encode`) on the very same chunks, in one run. The ratio shows what
everything but the model costs.

    .venv/bin/python bench/rag_ingest.py [--pages 12] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sentence_transformers import SentenceTransformer  # noqa: E402

from bench.rag_corpus import PAGES, page_file, require_corpus  # noqa: E402
from rag import Rag  # noqa: E402
from rag.chunking import Chunker, embedding_text  # noqa: E402
from rag.export import onnx_export  # noqa: E402
from rag.loaders.files import load_file  # noqa: E402
from rag.settings import RagSettings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    require_corpus()
    files = [page_file(p) for p in PAGES[: args.pages]]
    with tempfile.TemporaryDirectory() as data:
        rag = Rag(RagSettings(data_dir=Path(data)))
        embedder = rag.embedder
        embedder.embed(["warm up"])
        rag.collections()  # open the store before timing, as a long-lived app would
        chunker = Chunker(embedder.tokenizer, embedder.max_tokens,
                          rag.settings.chunk_tokens, rag.settings.chunk_overlap)
        texts = [embedding_text(c.context, c.text)
                 for f in files for c in chunker.split(load_file(f))]  # type: ignore[arg-type]
        # The raw baselines: the product's own embedder on the very same texts, and
        # sentence-transformers' `encode` of the same model file as it loads it by default;
        # the faster of the two counts.
        encoders = {"the product's embedder (onnxruntime + tokenizers)": embedder.embed}
        if rag.settings.embed_backend != "torch":
            folder, file_name = onnx_export(embedder.path, rag.settings.models_dir,
                                            quantize=rag.settings.embed_backend == "onnx-int8")
            reference = SentenceTransformer(str(folder), backend="onnx", device="cpu",
                                            model_kwargs={"file_name": file_name})
            reference.encode(texts[:8])
            encoders["sentence-transformers encode, ONNX Runtime defaults"] = (
                lambda batch: reference.encode(batch, batch_size=rag.settings.embed_batch_size,
                                               normalize_embeddings=True))

        rates: dict[str, list[float]] = {"end to end (rag ingest)": []}
        rates.update({f"raw, {label}": [] for label in encoders})
        for round_ in range(args.rounds):  # alternated, so machine noise hits all alike
            started = time.perf_counter()
            summary = rag.ingest(files, f"ingest-bench-{round_}")  # a new collection each time
            rates["end to end (rag ingest)"].append(
                summary.chunks / (time.perf_counter() - started))
            for label, encode in encoders.items():
                started = time.perf_counter()
                encode(texts)
                rates[f"raw, {label}"].append(len(texts) / (time.perf_counter() - started))
    print(f"{len(files)} pages, {summary.chunks} chunks, backend {rag.settings.embed_backend}, "
          f"median of {args.rounds} rounds")
    medians = {label: statistics.median(r) for label, r in rates.items()}
    for label, rate in medians.items():
        print(f"{label + ':':<60} {rate:6.1f} chunks/s")
    end_to_end = medians.pop("end to end (rag ingest)")
    print(f"ratio (against the faster raw): {end_to_end / max(medians.values()):.2f}")


if __name__ == "__main__":
    main()
