"""Hybrid retrieval: BM25 and vector search, fused by reciprocal rank."""

from __future__ import annotations

from typing import Literal

from rag.documents import Passage
from rag.embedding import Embedder
from rag.store import Collection, Hit

Mode = Literal["hybrid", "vector", "lexical"]

# The usual RRF constant (Cormack et al. 2009): damps the weight of the very top ranks.
RRF_K = 60
# BM25 hits scoring under this fraction of the best one matched only the query's common
# words; ranking them would let RRF reward chunks that lack the rare term (an identifier,
# a number) that the best hit has.
LEXICAL_FLOOR = 0.5


def _passage(hit: Hit, score: float) -> Passage:
    row = hit.row
    headings = tuple(h for h in row.headings.split(" > ") if h)
    return Passage(row.text, row.source, row.title, row.page, score, headings)


def fuse(rankings: list[list[Hit]], k: int) -> list[Passage]:
    """Reciprocal rank fusion; the score is the summed 1/(RRF_K + rank)."""
    scores: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (RRF_K + rank)
            hits.setdefault(hit.id, hit)
    best = sorted(scores, key=lambda i: scores[i], reverse=True)[:k]
    return [_passage(hits[i], scores[i]) for i in best]


def search(collection: Collection, embedder: Embedder, query: str, k: int,
           mode: Mode = "hybrid") -> list[Passage]:
    """Best first. Scores: RRF for hybrid, cosine similarity for vector, BM25 for lexical."""
    candidates = max(4 * k, 20)
    if mode == "lexical":
        return [_passage(h, h.score) for h in collection.lexical_search(query, k)]
    if mode == "vector":
        # Candidates, not k: hidden chunks of a write in progress are dropped from the hits.
        vector = collection.vector_search(embedder.embed([query])[0], candidates)
        return [_passage(h, h.score) for h in vector[:k]]
    # Sequential on purpose: on 2 cores a BM25 thread competes with the model's own threads
    # and made p95 latency worse (bench/rag_query.py).
    vector = collection.vector_search(embedder.embed([query])[0], candidates)
    lexical = collection.lexical_search(query, candidates)
    if lexical:
        lexical = [h for h in lexical if h.score >= LEXICAL_FLOOR * lexical[0].score]
    return fuse([vector, lexical], k)
