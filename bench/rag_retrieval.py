"""Retrieval on documentation sets nobody here tuned to, side by side: each set's hit@1,
hit@5 and MRR@5, and their mean, for the default search and for each lever asked for.

    .venv/bin/python bench/rag_retrieval.py [--sets pydoc,zsh,rpdf] [--levers a,b,...]
                                            [--chunk-tokens 200 --chunk-overlap 40]
                                            [--embed-model DIR] [--misses SET]

The sets, each with questions written from the pages before any retrieval was run:
- pydoc: 200 pages of Python's library reference (HTML; bench/pydoc_corpus.py), 118
  paraphrased questions and 38 exact-name lookups;
- zsh: the Zsh manual and FAQ (HTML, 34 pages, some very long; bench/zsh_corpus.py), 150
  task-phrased questions and 12 name lookups (its unanswerable ones are left out here);
- rpdf: three of R's manuals as PDFs (bench/rpdf_corpus.py), task-phrased questions and name
  lookups, each with the PDF page that states the answer.

A hit is a passage from an answer page (for a PDF: from the answer file, on an answer page).
Each set is ingested once per chunking, by the rag library as `rag ingest` does, under
build/bench/<set>/data-c<tokens>-o<overlap> (answers-data for the default chunking, shared
with bench/rag_answers.py), and reused: search levers need no re-ingest.

Targets (issue 24), written before the first run: on every set hit@5 >= 0.95 and hit@1 >=
0.80. A lever is kept only if it raises the mean of the sets' hit@1 (MRR breaking ties)
without lowering any set's hit@1 or hit@5 by more than 0.02.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import retrieval_levers  # noqa: E402
from bench.rag_answers import COLLECTION  # noqa: E402
from bench.rag_pydoc import IDENTIFIERS  # noqa: E402
from rag import Rag  # noqa: E402
from rag.documents import Passage  # noqa: E402
from rag.retrieval import search  # noqa: E402
from rag.settings import RagSettings  # noqa: E402
from rag.store import Collection  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
K = 5  # passages per question, as `rag query` returns by default


@dataclass(frozen=True)
class Item:
    question: str
    kind: str  # "task" or "name"
    files: tuple[str, ...]  # answer files (names)
    pages: tuple[int, ...] = ()  # answer pages of a PDF; () for a web page

    def hit(self, passage: Passage) -> bool:
        return Path(passage.source).name in self.files and (
            not self.pages or passage.page in self.pages)


@dataclass(frozen=True)
class EvalSet:
    name: str
    documents: list[Path]
    items: list[Item]


def pydoc_set() -> EvalSet:
    from bench import pydoc_corpus

    items = [Item(q, "task", tuple(p)) for q, p in pydoc_corpus.questions()]
    items += [Item(name, "name", pages) for name, pages in IDENTIFIERS]
    return EvalSet("pydoc", pydoc_corpus.pages(), items)


def zsh_set() -> EvalSet:
    from bench import zsh_corpus

    return EvalSet("zsh", zsh_corpus.pages(), [
        Item(q.question, q.kind, tuple(q.pages)) for q in zsh_corpus.questions()
        if q.kind != "unanswerable"])


def rpdf_set() -> EvalSet:
    from bench import rpdf_corpus

    return EvalSet("rpdf", rpdf_corpus.pdfs(), [
        Item(q["question"], q["kind"], (q["file"],), tuple(q["pages"]))
        for q in rpdf_corpus.questions()])


SETS: dict[str, Callable[[], EvalSet]] = {"pydoc": pydoc_set, "zsh": zsh_set, "rpdf": rpdf_set}

Searcher = Callable[[Rag, Collection, str, int], list[Passage]]


def default_search(rag: Rag, collection: Collection, query: str, k: int) -> list[Passage]:
    return search(collection, rag.embedder, query, k)


LEVERS: dict[str, Searcher] = {"default": default_search, **retrieval_levers.LEVERS}


def open_set(evalset: EvalSet, chunk_tokens: int, chunk_overlap: int,
             embed_model: Path | None = None) -> tuple[Rag, Collection]:
    """The set's collection, ingested on first use. With the default chunking and model it
    is the one bench/rag_answers.py uses (same folder, same name), so a set is ingested
    once for both."""
    work = ROOT / "build" / "bench" / evalset.name
    defaults = RagSettings()
    default = (chunk_tokens, chunk_overlap) == (defaults.chunk_tokens, defaults.chunk_overlap)
    folder = "answers-data" if default else f"data-c{chunk_tokens}-o{chunk_overlap}"
    if embed_model:
        folder = f"data-c{chunk_tokens}-o{chunk_overlap}-{embed_model.name}"
    rag = Rag(RagSettings(data_dir=work / folder, chunk_tokens=chunk_tokens,
                          chunk_overlap=chunk_overlap,
                          embed_model=str(embed_model) if embed_model else None))
    if not any(c.name == COLLECTION and c.chunks for c in rag.collections()):
        rag.embedder.embed(["warm up"])
        started = time.perf_counter()
        summary = rag.ingest([str(p) for p in evalset.documents], COLLECTION)
        print(f"{evalset.name}: ingested {len(evalset.documents)} documents, "
              f"{summary.chunks} chunks in {time.perf_counter() - started:.0f} s "
              f"({len(summary.failed)} failed)", flush=True)
    collection = rag.store.open(COLLECTION, rag.embedder.name, rag.embedder.dim,
                                create=False)
    return rag, collection


@dataclass
class Score:
    at1: float
    at5: float
    mrr: float
    by_kind: dict[str, tuple[float, float]]


def score(rag: Rag, collection: Collection, evalset: EvalSet, searcher: Searcher,
          misses: list[str] | None = None) -> Score:
    ranks: list[tuple[str, int | None]] = []
    for item in evalset.items:
        found = searcher(rag, collection, item.question, K)
        rank = next((r for r, p in enumerate(found, 1) if item.hit(p)), None)
        ranks.append((item.kind, rank))
        if misses is not None and rank != 1:
            top = " | ".join(f"{Path(p.source).name}{'' if p.page is None else f':{p.page}'}"
                             for p in found)
            misses.append(f"{rank or '-':>2} {item.question}  "
                          f"[{' '.join(item.files)} {list(item.pages) or ''}] -> {top}")

    def rates(rows: list[tuple[str, int | None]]) -> tuple[float, float, float]:
        n = len(rows) or 1
        return (sum(r == 1 for _, r in rows) / n,
                sum(r is not None for _, r in rows) / n,
                sum(1 / r for _, r in rows if r) / n)

    at1, at5, mrr = rates(ranks)
    kinds = sorted({kind for kind, _ in ranks})
    return Score(at1, at5, mrr, {kind: rates([r for r in ranks if r[0] == kind])[:2]
                                 for kind in kinds})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--levers", default="default", help=f"of: {', '.join(LEVERS)}")
    parser.add_argument("--chunk-tokens", type=int, default=200)
    parser.add_argument("--chunk-overlap", type=int, default=40)
    parser.add_argument("--embed-model", type=Path,
                        help="a sentence-transformers model folder instead of the default")
    parser.add_argument("--misses", default="", help="a set whose default misses to list")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    sets = [SETS[name]() for name in args.sets.split(",")]
    opened = {s.name: open_set(s, args.chunk_tokens, args.chunk_overlap, args.embed_model)
              for s in sets}
    for s in sets:
        kinds = {k: sum(i.kind == k for i in s.items) for k in sorted({i.kind for i in s.items})}
        print(f"{s.name}: {len(s.documents)} documents, "
              f"{opened[s.name][1].chroma.count()} chunks, questions {kinds}")
    print(f"chunks {args.chunk_tokens}/{args.chunk_overlap}; per set hit@1 hit@5 MRR "
          "(by kind of question: hit@1 hit@5)")
    figures: dict[str, dict[str, dict]] = {}
    for lever in args.levers.split(","):
        row: dict[str, dict] = {}
        for s in sets:
            rag, collection = opened[s.name]
            missed: list[str] | None = [] if lever == "default" and s.name == args.misses \
                else None
            result = score(rag, collection, s, LEVERS[lever], missed)
            row[s.name] = {"hit@1": result.at1, "hit@5": result.at5, "mrr": result.mrr,
                           "by_kind": result.by_kind}
            if missed:
                print("\n".join(missed))
        figures[lever] = row
        cells = "  ".join(
            f"{name} {r['hit@1']:.2f} {r['hit@5']:.2f} {r['mrr']:.2f} ("
            + " | ".join(f"{kind} {a:.2f} {b:.2f}" for kind, (a, b) in r["by_kind"].items()) + ")"
            for name, r in row.items())
        mean = sum(r["hit@1"] for r in row.values()) / len(row)
        mean5 = sum(r["hit@5"] for r in row.values()) / len(row)
        print(f"{lever:<16} mean {mean:.3f} {mean5:.3f}  {cells}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
