"""Learned fusion, measured leave-one-set-out: a logistic regression over each candidate's
features (vector cosine, its RRF term, BM25's RRF term, BM25 score over the best, the fused
RRF score, found by both sides), trained on two of bench/rag_retrieval.py's sets and scored
on the third, against the default RRF fusion (docs/benchmarks.md). scikit-learn comes with
sentence-transformers, a dependency of the rag package.

    .venv/bin/python bench/learned_fusion.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import rag_retrieval  # noqa: E402
from rag import Rag  # noqa: E402
from rag.documents import Passage  # noqa: E402
from rag.retrieval import DEFAULT_TUNING, _rankings  # noqa: E402
from rag.store import Collection, Hit  # noqa: E402

Question = tuple[np.ndarray, np.ndarray, list[Hit]]  # features, is a hit, candidates
FUSED = 4  # the column holding the default fusion's score


def features(rag: Rag, collection: Collection, query: str) -> tuple[np.ndarray, list[Hit]]:
    vector, lexical = _rankings(collection, rag.embedder, query, rag_retrieval.K, "hybrid",
                                DEFAULT_TUNING)
    k = DEFAULT_TUNING.rrf_k
    lowest = vector[-1].score if vector else 0.0
    best = lexical[0].score if lexical else 1.0
    sides: dict[str, list] = {}
    for rank, hit in enumerate(vector, start=1):
        sides.setdefault(hit.id, [hit, None, None])[1] = (rank, hit.score)
    for rank, hit in enumerate(lexical, start=1):
        sides.setdefault(hit.id, [hit, None, None])[2] = (rank, hit.score)
    rows, hits = [], []
    for hit, v, lex in sides.values():
        v_rrf = k / (k + v[0]) if v else 0.0
        l_rrf = k / (k + lex[0]) if lex else 0.0
        rows.append([v[1] if v else lowest, v_rrf, l_rrf, lex[1] / best if lex else 0.0,
                     v_rrf + l_rrf, float(v is not None and lex is not None)])
        hits.append(hit)
    return np.array(rows), hits


def questions(name: str) -> list[Question]:
    evalset = rag_retrieval.SETS[name]()
    rag, collection = rag_retrieval.open_set(evalset, 200, 40)
    found: list[Question] = []
    for item in evalset.items:
        x, hits = features(rag, collection, item.question)
        y = np.array([item.hit(Passage("", h.row.source, "", h.row.page, 0.0)) for h in hits])
        found.append((x, y, hits))
    return found


def rates(scores: list[np.ndarray], data: list[Question]) -> tuple[float, float]:
    """hit@1 and hit@5 with one result per page, as the product ranks."""
    at1 = at5 = 0
    for score, (_, y, hits) in zip(scores, data, strict=True):
        seen: set[tuple[str, int | None]] = set()
        top: list[int] = []
        for i in np.argsort(-score):
            page = (hits[i].row.source, hits[i].row.page)
            if page not in seen:
                seen.add(page)
                top.append(int(i))
            if len(top) == rag_retrieval.K:
                break
        at1 += bool(top) and bool(y[top[0]])
        at5 += any(y[i] for i in top)
    return at1 / len(data), at5 / len(data)


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    data = {name: questions(name) for name in rag_retrieval.SETS}
    print("held-out set: hit@1 hit@5 with RRF | learned; the weights learned")
    for held in data:
        train = [q for name, qs in data.items() if name != held for q in qs]
        model = LogisticRegression(max_iter=1000, class_weight="balanced").fit(
            np.vstack([x for x, _, _ in train]), np.concatenate([y for _, y, _ in train]))
        rrf = rates([x[:, FUSED] for x, _, _ in data[held]], data[held])
        learned = rates([model.decision_function(x) for x, _, _ in data[held]], data[held])
        print(f"{held:<6} {rrf[0]:.2f} {rrf[1]:.2f} | {learned[0]:.2f} {learned[1]:.2f}  "
              f"{np.round(model.coef_[0], 2).tolist()}", flush=True)


if __name__ == "__main__":
    main()
