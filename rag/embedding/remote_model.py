"""EMBED_URL: the vectors from an OpenAI-compatible `/embeddings`, the tokenizer local."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

from rag.embedding.config import Layout
from rag.embedding.tokenizer import model_tokenizer
from rag.errors import EmbeddingError

# The first request may wait for the server to load (even export) the model.
REMOTE_TIMEOUT = httpx.Timeout(300.0, connect=10.0)


class RemoteModel:
    """The model behind an OpenAI-compatible `/embeddings` (EMBED_URL), asked by word-piece
    ids as `Embedder._batch` would run them, one batch per request: llmserver, with the same
    EMBED_BATCH_SIZE, embeds such a request as one batch, so its vectors equal a local
    model's bit for bit (int8 depends on the batch). The tokenizer and limits are read from
    the model's local folder.

    Loading asks the server once, so that an unreachable or wrong server (key, model,
    dimension) is found when a collection opens, not halfway through an ingest."""

    def __init__(self, folder: Path, name: str, base_url: str, key: str | None) -> None:
        layout = Layout.read(folder)
        self.max_tokens, self.dim = layout.max_tokens, layout.dim
        self.tokenizer = model_tokenizer(layout)
        self.name = name
        self.url = base_url.rstrip("/") + "/embeddings"
        self.http = httpx.Client(timeout=REMOTE_TIMEOUT, headers={
            "authorization": f"Bearer {key}"} if key else {})
        self.vectors([self.tokenizer.encode("").ids])

    def vectors(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        """Normalized vectors of one batch of word-piece ids (special tokens included)."""
        try:
            response = self.http.post(self.url, json={
                "model": self.name, "input": [list(ids) for ids in rows],
                "encoding_format": "base64"})
        except httpx.HTTPError as e:
            raise EmbeddingError(f"cannot reach the embeddings endpoint {self.url} "
                                 f"(EMBED_URL): {type(e).__name__}: {e}") from None
        if response.status_code == 401:
            raise EmbeddingError(f"{self.url} (EMBED_URL) refused the key (401): set "
                                 "EMBED_API_KEY, or LLM_API_KEY, to its key")
        if response.status_code != 200:
            raise EmbeddingError(f"{self.url} (EMBED_URL) answered {response.status_code}: "
                                 f"{_error_message(response)}")
        try:
            body = response.json()
            data = sorted(body["data"], key=lambda item: item["index"])
            served = body.get("model")
            vectors = [np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
                       if isinstance(item["embedding"], str)
                       else np.asarray(item["embedding"], dtype=np.float32) for item in data]
        except (ValueError, KeyError, TypeError) as e:
            raise EmbeddingError(f"{self.url} (EMBED_URL) answered no embeddings list "
                                 f"({type(e).__name__}: {e})") from None
        if served != self.name:
            # The collection records the model's name: vectors of another model must not
            # be mixed into it.
            raise EmbeddingError(f"{self.url} (EMBED_URL) embedded with {served!r}, not "
                                 f"{self.name!r}: point EMBED_MODEL and the server at the "
                                 "same model")
        if len(vectors) != len(rows) or any(v.shape != (self.dim,) for v in vectors):
            raise EmbeddingError(
                f"{self.url} (EMBED_URL) answered {len(vectors)} vectors of "
                f"{sorted({v.size for v in vectors})} dimensions for {len(rows)} inputs; "
                f"{self.name} gives {self.dim}")
        return np.stack(vectors).astype(np.float32, copy=False)


def _error_message(response: httpx.Response) -> str:
    """An error answer's message: OpenAI's `{"error": {"message"}}`, else its text."""
    try:
        error = response.json()["error"]
        return str(error["message"] if isinstance(error, dict) else error)
    except (ValueError, KeyError, TypeError):
        return response.text[:300] or response.reason_phrase
