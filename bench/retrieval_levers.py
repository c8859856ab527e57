"""Retrieval levers measured by bench/rag_retrieval.py, each a search function beside the
product's (`rag.retrieval.search`), so that one run compares them on the same collections.
A lever that is kept moves into rag/retrieval.py; this file keeps the ones under test."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache

import numpy as np

from rag import Rag
from rag.documents import Passage
from rag.evidence import SCORED_CHARS, sentence_spans, weigh
from rag.lexical import query_words
from rag.retrieval import DEFAULT_TUNING, _capped, _passage, _rankings, _top, fuse, search
from rag.store import Collection, Hit

TUNING = DEFAULT_TUNING


@cache
def _vectors(collection: Collection) -> tuple[dict[str, int], np.ndarray, list[str]]:
    """Every chunk's embedding (ids -> row), and each row's source."""
    ids: list[str] = []
    rows: list[np.ndarray] = []
    sources: list[str] = []
    offset = 0
    while True:
        got = collection.chroma.get(include=["embeddings", "metadatas"], limit=2000,
                                    offset=offset)
        if not got["ids"]:
            break
        ids += got["ids"]
        rows.append(np.asarray(got["embeddings"], dtype=np.float32))
        sources += [str(m.get("source")) for m in got["metadatas"]]
        offset += len(got["ids"])
    matrix = np.vstack(rows)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return {i: n for n, i in enumerate(ids)}, matrix, sources


@cache
def _page_vectors(collection: Collection) -> tuple[list[str], np.ndarray]:
    index, matrix, sources = _vectors(collection)
    keys = sorted(set(sources))
    where = {s: n for n, s in enumerate(keys)}
    sums = np.zeros((len(keys), matrix.shape[1]), dtype=np.float32)
    np.add.at(sums, [where[s] for s in sources], matrix)
    sums /= np.linalg.norm(sums, axis=1, keepdims=True)
    return keys, sums


def _query(rag: Rag, query: str) -> np.ndarray:
    vector = np.asarray(rag.embedder.embed([query])[0], dtype=np.float32)
    return vector / np.linalg.norm(vector)


def convex(alpha: float):
    """Scores normalised to [0, 1] on each side (min-max over the candidates), summed as
    alpha * vector + (1 - alpha) * BM25, instead of ranks alone."""
    def run(rag: Rag, collection: Collection, query: str, k: int) -> list[Passage]:
        vector, lexical = _rankings(collection, rag.embedder, query, k, "hybrid", TUNING)
        scores: dict[str, float] = {}
        hits: dict[str, Hit] = {}
        for side, weight in ((vector, alpha), (lexical, 1 - alpha)):
            if not side:
                continue
            top, low = side[0].score, side[-1].score
            for hit in side:
                norm = (hit.score - low) / (top - low) if top > low else 1.0
                scores[hit.id] = scores.get(hit.id, 0.0) + weight * norm
                hits.setdefault(hit.id, hit)
        best = sorted(hits.values(), key=lambda h: scores[h.id], reverse=True)
        return [_passage(h, scores[h.id]) for h in _top(best, k, TUNING.results_per_page)]
    return run


def page_vector(weight: float):
    """A third ranking: each candidate chunk ranked by how close its whole page (the mean of
    its chunks' vectors) is to the question."""
    def run(rag: Rag, collection: Collection, query: str, k: int) -> list[Passage]:
        vector, lexical = _rankings(collection, rag.embedder, query, k, "hybrid", TUNING)
        keys, pages = _page_vectors(collection)
        similarity = dict(zip(keys, pages @ _query(rag, query), strict=True))
        pool = {h.id: h for h in vector + lexical}
        by_page = sorted(pool.values(), key=lambda h: similarity.get(h.row.source, -1.0),
                         reverse=True)
        return fuse([(vector, 1.0), (lexical, TUNING.lexical_weight), (by_page, weight)], k,
                    TUNING)
    return run


def rocchio(beta: float, top: int = 3):
    """The question's vector moved towards the mean of the first search's best chunks, and
    the vector side searched again (pseudo-relevance feedback)."""
    def run(rag: Rag, collection: Collection, query: str, k: int) -> list[Passage]:
        first = fuse_hits(rag, collection, query, k)
        index, matrix, _ = _vectors(collection)
        rows = [index[h.id] for h in first[:top] if h.id in index]
        moved = _query(rag, query) + beta * matrix[rows].mean(axis=0)
        candidates = max(4 * k, TUNING.depth)
        vector = collection.vector_search(moved / np.linalg.norm(moved), candidates)
        _, lexical = _rankings(collection, rag.embedder, query, k, "hybrid", TUNING)
        return fuse([(vector, 1.0), (lexical, TUNING.lexical_weight)], k, TUNING)
    return run


def expansion(terms: int, top: int = 3):
    """The BM25 query extended with the words most frequent in the first search's best
    chunks that are rare in the collection (pseudo-relevance feedback, lexical side)."""
    def run(rag: Rag, collection: Collection, query: str, k: int) -> list[Passage]:
        first = fuse_hits(rag, collection, query, k)
        counts: Counter[str] = Counter()
        for hit in first[:top]:
            counts.update(set(query_words(hit.row.text)))
        asked = set(query_words(query))
        extra = [w for w, n in counts.most_common() if n >= 2 and w not in asked
                 and len(w) > 3][:terms]
        candidates = max(4 * k, TUNING.depth)
        vector, _ = _rankings(collection, rag.embedder, query, k, "hybrid", TUNING)
        lexical = collection.lexical_search(query + " " + " ".join(extra), candidates)
        if lexical:
            lexical = [h for h in lexical if h.score >= TUNING.lexical_floor * lexical[0].score]
        return fuse([(vector, 1.0), (lexical, TUNING.lexical_weight)], k, TUNING)
    return run


def fuse_hits(rag: Rag, collection: Collection, query: str, k: int) -> list[Hit]:
    """The default search's fused ranking, as hits (all candidates, best first)."""
    vector, lexical = _rankings(collection, rag.embedder, query, k, "hybrid", TUNING)
    scores: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    for ranking, weight in ((_capped(vector, 0), 1.0), (_capped(lexical, 0),
                                                        TUNING.lexical_weight)):
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + weight / (TUNING.rrf_k + rank)
            hits.setdefault(hit.id, hit)
    return sorted(hits.values(), key=lambda h: scores[h.id], reverse=True)


_ASKING = re.compile(
    r"^(?:how (?:do|can|should|would) (?:i|you|we)|is (?:there|it possible)(?: a way)?(?: to)?|"
    r"can (?:i|you|zsh|r)|what(?:'s| is) the (?:best|easiest|shortest|quickest) way to|"
    r"i (?:want|need|would like) to)\s+", re.IGNORECASE)


def unasked(rag: Rag, collection: Collection, query: str, k: int) -> list[Passage]:
    """The vector side searched with the question's opening ("How do I", "Is there a way
    to") left out, so that it weighs what is asked about."""
    candidates = max(4 * k, TUNING.depth)
    stripped = _ASKING.sub("", query.strip()) or query
    vector = collection.vector_search(rag.embedder.embed([stripped])[0], candidates)
    _, lexical = _rankings(collection, rag.embedder, query, k, "hybrid", TUNING)
    return fuse([(vector, 1.0), (lexical, TUNING.lexical_weight)], k, TUNING)


_SENTENCE_VECTORS: dict[str, np.ndarray] = {}


def _sentence_vectors(rag: Rag, hits: list[Hit]) -> list[np.ndarray]:
    """Each hit's sentences embedded (cached by chunk id across questions and levers)."""
    todo = [h for h in hits if h.id not in _SENTENCE_VECTORS]
    texts = [[" ".join(h.row.text[a:b][:SCORED_CHARS].split())
              for a, b in sentence_spans(h.row.text)] or [h.row.text[:SCORED_CHARS]]
             for h in todo]
    flat = [t for group in texts for t in group]
    if flat:
        vectors = np.asarray(rag.embedder.embed(flat), dtype=np.float32)
        start = 0
        for hit, group in zip(todo, texts, strict=True):
            _SENTENCE_VECTORS[hit.id] = vectors[start:start + len(group)]
            start += len(group)
    return [_SENTENCE_VECTORS[h.id] for h in hits]


def best_sentence(weight: float, pool: int = 12):
    """A third ranking over the fused ranking's best `pool` chunks: by their best sentence's
    similarity to the question (a chunk is judged by what it says best, not its average)."""
    def run(rag: Rag, collection: Collection, query: str, k: int) -> list[Passage]:
        vector, lexical = _rankings(collection, rag.embedder, query, k, "hybrid", TUNING)
        top = fuse_hits(rag, collection, query, k)[:pool]
        question = _query(rag, query)
        best = {h.id: float((vectors @ question).max())
                for h, vectors in zip(top, _sentence_vectors(rag, top), strict=True)}
        by_sentence = sorted(top, key=lambda h: best[h.id], reverse=True)
        return fuse([(vector, 1.0), (lexical, TUNING.lexical_weight),
                     (by_sentence, weight)], k, TUNING)
    return run


def reorder_by_sentence(weight: float):
    """The default search's k results reordered by RRF of their rank and their best
    sentence's rank: what the chat's evidence step computes for them anyway."""
    def run(rag: Rag, collection: Collection, query: str, k: int) -> list[Passage]:
        found = search(collection, rag.embedder, query, k)
        evidence = weigh(rag.embedder, query, found)
        best = [e.best.score if e.best else -1.0 for e in evidence]
        by_sentence = sorted(range(len(found)), key=lambda i: best[i], reverse=True)
        score = {i: 1 / (TUNING.rrf_k + i + 1) for i in range(len(found))}
        for rank, i in enumerate(by_sentence, start=1):
            score[i] += weight / (TUNING.rrf_k + rank)
        return [found[i] for i in sorted(score, key=lambda i: -score[i])]
    return run


_CONTEXT_VECTORS: dict[str, np.ndarray] = {}


def section_vector(weight: float):
    """A third ranking over the candidates: by how close their heading path (title >
    headings, embedded on its own, once per distinct path) is to the question."""
    def run(rag: Rag, collection: Collection, query: str, k: int) -> list[Passage]:
        vector, lexical = _rankings(collection, rag.embedder, query, k, "hybrid", TUNING)
        pool = list({h.id: h for h in vector + lexical}.values())
        todo = sorted({h.row.context for h in pool} - set(_CONTEXT_VECTORS))
        if todo:
            for text, v in zip(todo, rag.embedder.embed(todo), strict=True):
                _CONTEXT_VECTORS[text] = np.asarray(v, dtype=np.float32)
        question = _query(rag, query)
        near = {h.id: float(_CONTEXT_VECTORS[h.row.context] @ question) for h in pool}
        by_section = sorted(pool, key=lambda h: near[h.id], reverse=True)
        return fuse([(vector, 1.0), (lexical, TUNING.lexical_weight), (by_section, weight)],
                    k, TUNING)
    return run


LEVERS = {
    **{f"section{w}": section_vector(w) for w in (0.3, 0.5, 1.0)},
    **{f"reorder{w}": reorder_by_sentence(w) for w in (0.5, 1.0, 2.0)},
    **{f"sentence{w}": best_sentence(w) for w in (0.5, 1.0, 2.0)},
    "unasked": unasked,
    **{f"convex{a}": convex(a) for a in (0.3, 0.5, 0.7)},
    **{f"pagevec{w}": page_vector(w) for w in (0.5, 1.0)},
    **{f"rocchio{b}": rocchio(b) for b in (0.3, 0.7)},
    **{f"expand{n}": expansion(n) for n in (3, 8)},
}
