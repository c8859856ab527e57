"""sentence-transformers' pooling, in numpy: token vectors of a right-padded batch to one
vector per text, as its Pooling module computes them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _weights(mask: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    return mask[..., None].astype(tokens.dtype)


def _cls(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return tokens[:, 0]


def _max(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(_weights(mask, tokens) > 0, tokens, -np.inf).max(axis=1)


def _mean(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = _weights(mask, tokens)
    return (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


# sentence-transformers' pooling modes, on (token vectors, mask) of a right-padded batch.
POOLERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "cls": _cls, "max": _max, "mean": _mean,
}
# Its older configuration's keys for the pooling modes, in the order it concatenates them.
LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
