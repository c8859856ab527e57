"""Retrieval quality on a documentation set nobody here wrote (bench/pydoc_corpus.py: 200
pages of Python's library reference from Debian's package) with the questions of
bench/pydoc_questions.json, written from the pages before any retrieval was run.

    .venv/bin/python bench/rag_pydoc.py [--chunk-tokens 200] [--chunk-overlap 40]
                                        [--levers] [--misses]

The collection is built once per chunking into build/bench/pydoc/data-c<tokens>-o<overlap>
and reused: retrieval levers do not change ingestion. Reports hit@1, hit@5 (a hit: a chunk of
an answer page) and MRR over the top 5, for hybrid, vector-only and lexical-only with the
default settings, then the same for the exact-name lookups; --levers adds one table per
retrieval lever.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pydoc_corpus import WORK, pages, questions  # noqa: E402
from rag import Rag  # noqa: E402
from rag.retrieval import DEFAULT_TUNING, Mode, Tuning, search  # noqa: E402
from rag.settings import RagSettings  # noqa: E402
from rag.store import Collection  # noqa: E402

COLLECTION = "pydoc"
# Exact-name lookups, where BM25 is the stronger side: each name is defined on its page (checked
# with grep before any retrieval). A tuning that helps paraphrased questions by trusting the
# vector side must not lose these.
IDENTIFIERS: list[tuple[str, tuple[str, ...]]] = [
    (name, tuple(f"{p}.html" for p in pages_)) for name, *pages_ in (
        ("token_urlsafe", "secrets"), ("unified_diff", "difflib"), ("dircmp", "filecmp"),
        ("dedent", "textwrap"), ("RLIMIT_CPU", "resource"), ("openlog", "syslog"),
        ("setraw", "tty"), ("DefaultSelector", "selectors"), ("open_new_tab", "webbrowser"),
        ("SimpleCookie", "http.cookies"), ("ServerProxy", "xmlrpc.client"),
        ("toprettyxml", "xml.dom.minidom"), ("name2codepoint", "html.entities"),
        ("crc32", "binascii", "zlib"), ("capwords", "string"), ("itemgetter", "operator"),
        ("filterwarnings", "warnings"), ("print_exc", "traceback"),
        ("create_subprocess_shell", "asyncio-subprocess"), ("formatdate", "email.utils"),
        ("dictConfig", "logging.config"), ("askyesno", "tkinter.messagebox"),
        ("QueryValue", "winreg"), ("pbkdf2_hmac", "hashlib"), ("disk_usage", "shutil"),
        ("splitext", "os.path"), ("S_ISDIR", "stat"), ("lastrowid", "sqlite3"),
        ("setrecursionlimit", "sys"), ("nlargest", "heapq"), ("call_later", "asyncio-eventloop"),
        ("groupby", "itertools"), ("defaultdict", "collections"),
        ("SharedMemory", "multiprocessing.shared_memory"), ("iter_modules", "pkgutil"),
        ("gr_mem", "grp"), ("pw_dir", "pwd"), ("gcd", "math"),
    )
]
K = 5  # passages retrieved per question, as `rag query` returns by default


def build(chunk_tokens: int, chunk_overlap: int) -> Rag:
    data = WORK / f"data-c{chunk_tokens}-o{chunk_overlap}"
    rag = Rag(RagSettings(data_dir=data, chunk_tokens=chunk_tokens,
                          chunk_overlap=chunk_overlap))
    rag.embedder.embed(["warm up"])
    started = time.perf_counter()
    summary = rag.ingest(pages(), COLLECTION)
    if summary.added or summary.replaced:
        elapsed = time.perf_counter() - started
        print(f"ingested {len(summary.added) + len(summary.replaced)} pages, "
              f"{summary.chunks} chunks in {elapsed:.0f} s")
    if summary.failed:
        print(f"{len(summary.failed)} pages failed: {summary.failed[:3]}")
    return rag


def score(rag: Rag, collection: Collection, mode: Mode, tuning: Tuning,
          misses: list[str] | None = None,
          items: list[tuple[str, tuple[str, ...]]] | None = None) -> tuple[float, float, float]:
    """(hit@1, hit@5, MRR@5) over every question (or over `items`)."""
    items = questions() if items is None else items
    at1 = at5 = reciprocal = 0.0
    for question, answer in items:
        found = search(collection, rag.embedder, question, K, mode, tuning)
        names = [Path(p.source).name for p in found]
        rank = next((r for r, name in enumerate(names, 1) if name in answer), None)
        at1 += rank == 1
        at5 += rank is not None and rank <= 5
        reciprocal += 1 / rank if rank else 0.0
        if misses is not None and rank != 1:
            misses.append(f"{rank or '-':>2} {question}  [{' '.join(answer)}] -> "
                          + " ".join(dict.fromkeys(n.removesuffix('.html') for n in names[:5])))
    n = len(items)
    return at1 / n, at5 / n, reciprocal / n


def table(title: str, rows: dict[str, tuple[float, float, float]]) -> None:
    print(f"\n{title}")
    print(f"{'':<34} {'hit@1':>6} {'hit@5':>6} {'MRR':>6}")
    for label, (at1, at5, mrr) in rows.items():
        print(f"{label:<34} {at1:>6.2f} {at5:>6.2f} {mrr:>6.2f}", flush=True)


def levers(rag: Rag, collection: Collection) -> None:
    base = DEFAULT_TUNING

    def both(tuning: Tuning) -> tuple[float, ...]:
        return (*score(rag, collection, "hybrid", tuning),
                *score(rag, collection, "hybrid", tuning, items=IDENTIFIERS))

    def lever(title: str, rows: dict[str, Tuning]) -> None:
        print(f"\n{title}, hybrid; paraphrased questions | exact-name lookups")
        print(f"{'':<26} {'hit@1':>6} {'hit@5':>6} {'MRR':>6} | {'hit@1':>6} {'hit@5':>6} "
              f"{'MRR':>6}")
        for label, tuning in rows.items():
            p1, p5, pm, i1, i5, im = both(tuning)
            print(f"{label:<26} {p1:>6.2f} {p5:>6.2f} {pm:>6.2f} | {i1:>6.2f} {i5:>6.2f} "
                  f"{im:>6.2f}", flush=True)

    lever("chunks per source (in candidates, in results)", {
        f"({c}, {r})": replace(base, candidates_per_page=c, results_per_page=r)
        for c, r in ((0, 0), (0, 2), (0, 1), (2, 2), (2, 1), (1, 1))
    })
    lever("candidate depth per ranking", {
        f"{d}": replace(base, depth=d) for d in (20, 40, 80)
    })
    lever("RRF constant", {f"{k}": replace(base, rrf_k=k) for k in (3, 10, 30, 60, 100)})
    lever("weight of the BM25 ranking (rrf_k, weight)", {
        f"({k}, {w})": replace(base, rrf_k=k, lexical_weight=w)
        for k, w in ((60, 1.0), (60, 0.7), (10, 0.5), (10, 0.3), (3, 0.5))
    })
    lever("lexical floor (fraction of the best BM25 kept)", {
        f"{f}": replace(base, lexical_floor=f) for f in (0.0, 0.3, 0.5, 0.7)
    })


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunk-tokens", type=int, default=200)
    parser.add_argument("--chunk-overlap", type=int, default=40)
    parser.add_argument("--levers", action="store_true", help="one table per retrieval lever")
    parser.add_argument("--misses", action="store_true", help="list the hybrid misses")
    args = parser.parse_args()
    rag = build(args.chunk_tokens, args.chunk_overlap)
    collection = rag.store.open(COLLECTION, rag.embedder.name, rag.embedder.dim, create=False)
    print(f"{len(questions())} questions, {len(pages())} pages, "
          f"{collection.chroma.count()} chunks (chunk {args.chunk_tokens}/{args.chunk_overlap})")
    missed: list[str] = []
    table("paraphrased questions, default settings", {
        mode: score(rag, collection, mode, DEFAULT_TUNING,
                    missed if mode == "hybrid" and args.misses else None)
        for mode in ("hybrid", "vector", "lexical")
    })
    table("exact-name lookups, default settings", {
        mode: score(rag, collection, mode, DEFAULT_TUNING, items=IDENTIFIERS)
        for mode in ("hybrid", "vector", "lexical")
    })
    if args.misses:
        print("\nhybrid, answer page not first (rank, question, answer -> top pages):")
        print("\n".join(missed))
    if args.levers:
        levers(rag, collection)


if __name__ == "__main__":
    main()
