"""Hybrid retrieval: BM25 and vector search, fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rag.documents import Passage
from rag.embedding import Embedder
from rag.store import Collection, Hit

Mode = Literal["hybrid", "vector", "lexical"]


@dataclass(frozen=True)
class Tuning:
    """The knobs of a search; the defaults are the ones measured best on bench/rag_pydoc.py,
    without losing the exact-name lookups nor bench/rag_quality.py (docs/benchmarks.md)."""

    # The RRF constant (Cormack et al. 2009): damps the weight of the very top ranks.
    rrf_k: int = 60
    # Weight of the BM25 ranking in the fusion, the vector ranking's being 1. Lower weights
    # helped paraphrased questions a little and lost exact-name lookups.
    lexical_weight: float = 1.0
    # Candidates taken from each ranking: max(4 * k, depth). 40 rather than 20: the answering
    # page is often a short one ranked past 20 behind a long page's many chunks.
    depth: int = 40
    # BM25 hits scoring under this fraction of the best one matched only the query's common
    # words; ranking them would let RRF reward chunks that lack the rare term (an identifier,
    # a number) that the best hit has.
    lexical_floor: float = 0.5
    # At most this many chunks of one page in each ranking before fusion, and in the results
    # (0: no cap); a page is a web page or file, or one page of a PDF. Results are topped up
    # past the cap when too few pages match. One per page in the results: a long page
    # matching a few words in many chunks otherwise fills the top k; capping the candidates
    # too cost hit@1. Per PDF page rather than per PDF: a manual's pages are as distinct as
    # a site's (R's manuals: hit@5 0.85 -> 0.93; docs/benchmarks.md).
    candidates_per_page: int = 0
    results_per_page: int = 1


DEFAULT_TUNING = Tuning()


def _passage(hit: Hit, score: float) -> Passage:
    row = hit.row
    headings = tuple(h for h in row.headings.split(" > ") if h)
    return Passage(row.text, row.source, row.title, row.page, score, headings, hit.id)


def _capped(hits: Iterable[Hit], cap: int) -> list[Hit]:
    """Best first, at most `cap` hits per page (0: all)."""
    if not cap:
        return list(hits)
    seen: dict[tuple[str, int | None], int] = {}
    kept = []
    for hit in hits:
        page = (hit.row.source, hit.row.page)
        seen[page] = seen.get(page, 0) + 1
        if seen[page] <= cap:
            kept.append(hit)
    return kept


def _top(hits: list[Hit], k: int, cap: int) -> list[Hit]:
    """The best k, at most `cap` per page while other pages can fill the k places."""
    first = _capped(hits, cap)[:k]
    chosen = {h.id for h in first}
    return first + [h for h in hits if h.id not in chosen][: k - len(first)]


@dataclass(frozen=True)
class Explained:
    """A passage and why it was chosen: its rank (1 = best) in the BM25 and in the vector
    ranking that were fused, None when that side did not find it (or `mode` left that side
    out); its rank in the fused ranking before the cap of one chunk per page moved it up
    (`Tuning.results_per_page`); passage.score is the fused score (RRF), or the one side's
    score. passage.headings shows where it sits in its document (a PDF's from its
    outline)."""

    passage: Passage
    lexical_rank: int | None
    vector_rank: int | None
    fused_rank: int | None = None

    def to_json(self) -> dict:
        return {**self.passage.to_json(), "lexical_rank": self.lexical_rank,
                "vector_rank": self.vector_rank, "fused_rank": self.fused_rank,
                "headings": list(self.passage.headings)}


def _fused(rankings: list[list[Hit]], weights: list[float], k: int,
           tuning: Tuning, order: list[Hit] | None = None) -> list[tuple[Hit, float]]:
    """The best k by RRF, capped per page; `order` receives the whole fused ranking."""
    scores: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + weight / (tuning.rrf_k + rank)
            hits.setdefault(hit.id, hit)
    best = [hits[i] for i in sorted(scores, key=lambda i: scores[i], reverse=True)]
    if order is not None:
        order.extend(best)
    return [(h, scores[h.id]) for h in _top(best, k, tuning.results_per_page)]


def fuse(rankings: list[tuple[list[Hit], float]], k: int,
         tuning: Tuning = DEFAULT_TUNING) -> list[Passage]:
    """Reciprocal rank fusion of (ranking, weight) pairs; the score is the summed
    weight/(rrf_k + rank)."""
    capped = [_capped(ranking, tuning.candidates_per_page) for ranking, _ in rankings]
    return [_passage(h, score)
            for h, score in _fused(capped, [w for _, w in rankings], k, tuning)]


def _rankings(collection: Collection, embedder: Embedder, query: str, k: int, mode: Mode,
              tuning: Tuning) -> tuple[list[Hit], list[Hit]]:
    """(vector, lexical) candidates, best first; a side `mode` leaves out is empty."""
    candidates = max(4 * k, tuning.depth)
    if mode == "lexical":
        return [], collection.lexical_search(query, candidates)
    # Candidates, not k: hidden chunks of a write in progress are dropped from the hits.
    # Sequential on purpose: on 2 cores a BM25 thread competes with the model's own threads
    # and made p95 latency worse (bench/rag_query.py).
    vector = collection.vector_search(embedder.embed([query])[0], candidates)
    if mode == "vector":
        return vector, []
    lexical = collection.lexical_search(query, candidates)
    if lexical:
        lexical = [h for h in lexical if h.score >= tuning.lexical_floor * lexical[0].score]
    return vector, lexical


def search(collection: Collection, embedder: Embedder, query: str, k: int,
           mode: Mode = "hybrid", tuning: Tuning = DEFAULT_TUNING) -> list[Passage]:
    """Best first. Scores: RRF for hybrid, cosine similarity for vector, BM25 for lexical."""
    vector, lexical = _rankings(collection, embedder, query, k, mode, tuning)
    if mode != "hybrid":
        one_side = vector or lexical
        return [_passage(h, h.score) for h in _top(one_side, k, tuning.results_per_page)]
    return fuse([(vector, 1.0), (lexical, tuning.lexical_weight)], k, tuning)


def explain(collection: Collection, embedder: Embedder, query: str, k: int,
            mode: Mode = "hybrid", tuning: Tuning = DEFAULT_TUNING) -> list[Explained]:
    """What `search` returns, each passage with its rank on either side of the fusion."""
    vector, lexical = _rankings(collection, embedder, query, k, mode, tuning)
    order: list[Hit] = []
    if mode == "hybrid":
        vector = _capped(vector, tuning.candidates_per_page)
        lexical = _capped(lexical, tuning.candidates_per_page)
        chosen = _fused([vector, lexical], [1.0, tuning.lexical_weight], k, tuning, order)
    else:
        order = vector or lexical
        chosen = [(h, h.score) for h in _top(order, k, tuning.results_per_page)]
    vector_ranks = {h.id: rank for rank, h in enumerate(vector, start=1)}
    lexical_ranks = {h.id: rank for rank, h in enumerate(lexical, start=1)}
    fused_ranks = {h.id: rank for rank, h in enumerate(order, start=1)}
    return [Explained(_passage(h, score), lexical_ranks.get(h.id), vector_ranks.get(h.id),
                      fused_ranks.get(h.id)) for h, score in chosen]
