"""`POST /v1/embeddings`, OpenAI's shape, from rag's embedding model.

The model is rag's own `Embedder` (the packaged all-MiniLM-L6-v2 on ONNX int8, or
EMBED_MODEL / EMBED_BACKEND), imported only here and only when first asked: one
implementation of the model, so that the vectors equal rag's bit for bit and a collection
built with either opens with the other (rag's EMBED_URL). Importing and loading it happens
on the first request, in a thread, so it never slows llmserver's start or blocks its event
loop; embedding runs in a thread too, one request at a time (ONNX Runtime already spreads
one batch over every core).

`input` is a string, a list of strings, or word-piece ids of the model's own tokenizer (a
list of integers, or a list of such lists) taken as they go to the model, special tokens
included: what rag's EMBED_URL sends, so that its batches are the batches run here.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from llmserver import errors
from llmserver.errors import ApiError, send_json
from llmserver.settings import Settings

if TYPE_CHECKING:
    import numpy as np
    from starlette.types import Send

    from rag.embedding import Embedder

log = logging.getLogger("llmserver")

EMBEDDINGS_PATH = "/v1/embeddings"
INPUT_SHAPES = ("input must be a string, a list of strings, or word-piece ids (a list of "
                "integers, or a list of such lists).")


@dataclass(frozen=True)
class EmbeddingRequest:
    texts: list[str] | None  # string input
    ids: list[list[int]] | None  # token-id input
    model: str | None
    base64: bool
    dimensions: int | None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse(body: bytes, settings: Settings) -> EmbeddingRequest:
    """The request, or the 400 that says what is wrong with it."""
    request = errors.json_object(body)
    value = request.get("input")
    texts: list[str] | None = None
    ids: list[list[int]] | None = None
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        texts = value
    elif isinstance(value, list) and value and all(_is_int(v) for v in value):
        ids = [value]
    elif isinstance(value, list) and value and all(
            isinstance(v, list) and v and all(_is_int(i) for i in v) for v in value):
        ids = value
    else:
        empty = " It is empty." if value in ([], [[]]) else ""
        raise errors.bad_request(INPUT_SHAPES + empty, code="invalid_value", param="input")
    items: list[str] | list[list[int]] = texts if texts is not None else ids or []
    if len(items) > settings.embed_max_inputs:
        raise errors.bad_request(
            f"input has {len(items)} items; at most {settings.embed_max_inputs} per request "
            "(EMBED_MAX_INPUTS).", code="invalid_value", param="input")
    for index, item in enumerate(items):
        if len(item) > settings.embed_max_input_chars:
            unit = "characters" if texts is not None else "token ids"
            raise errors.bad_request(
                f"input[{index}] has {len(item)} {unit}; at most "
                f"{settings.embed_max_input_chars} per input (EMBED_MAX_INPUT_CHARS).",
                code="invalid_value", param="input")
    model = request.get("model")
    if model is not None and not isinstance(model, str):
        raise errors.bad_request("model must be a string.", code="invalid_value", param="model")
    encoding = request.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise errors.bad_request(f"encoding_format must be float or base64, got {encoding!r}.",
                                 code="invalid_value", param="encoding_format")
    dimensions = request.get("dimensions")
    if dimensions is not None and not _is_int(dimensions):
        raise errors.bad_request("dimensions must be an integer.", code="invalid_value",
                                 param="dimensions")
    return EmbeddingRequest(texts, ids, model, encoding == "base64", dimensions)


class Embeddings:
    """The embedding model behind `/v1/embeddings`, created and loaded on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._embedder: Embedder | None = None
        self._loaded = False
        # Two locks: listing the model (/v1/models) must not wait for its loading.
        self._create_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._one_at_a_time = anyio.CapacityLimiter(1)

    def _create(self) -> Embedder:
        with self._create_lock:
            if self._embedder is None:
                # Imported here, not at start: rag's import (Chroma's client among it) takes
                # seconds that a server not asked for embeddings should not spend.
                from rag.embedding import Embedder, EmbeddingError
                from rag.settings import RagSettings

                try:
                    # embed_url=None: a shared .env's EMBED_URL points rag at this server,
                    # and this server must then not ask itself.
                    self._embedder = Embedder(RagSettings(embed_url=None))
                except EmbeddingError as exc:
                    raise _unavailable(str(exc)) from None
            return self._embedder

    def _load(self) -> Embedder:
        embedder = self._create()
        with self._load_lock:
            if not self._loaded:
                from rag.embedding import EmbeddingError

                try:
                    log.info("loading the embedding model %s", embedder.name)
                    embedder.embed(["warm up"])
                except EmbeddingError as exc:
                    raise _unavailable(str(exc)) from None
                self._loaded = True
        return embedder

    async def model_name(self) -> str | None:
        """The embedding model's id (what rag records on a collection), or None when it is
        not available, for `/v1/models`. Does not load the model."""
        try:
            return (await anyio.to_thread.run_sync(self._create)).name
        except ApiError as exc:
            log.warning("no embedding model to list: %s", exc.message)
            return None

    async def answer(self, body: bytes, send: Send) -> None:
        request = parse(body, self.settings)
        embedder = await anyio.to_thread.run_sync(self._create)
        if request.model is not None and request.model != embedder.name:
            raise errors.model_not_found(request.model, [embedder.name])
        embedder = await anyio.to_thread.run_sync(self._load)
        if request.dimensions is not None and request.dimensions != embedder.dim:
            raise errors.bad_request(
                f"{embedder.name} gives {embedder.dim} dimensions; it cannot give "
                f"{request.dimensions}.", code="invalid_value", param="dimensions")
        if request.ids is not None:
            vocabulary = embedder.tokenizer.get_vocab_size()
            for index, ids in enumerate(request.ids):
                if not all(0 <= i < vocabulary for i in ids):
                    raise errors.bad_request(
                        f"input[{index}] holds a token id outside {embedder.name}'s "
                        f"vocabulary (0 to {vocabulary - 1}).", code="invalid_value",
                        param="input")
        payload = await anyio.to_thread.run_sync(_embed, embedder, request,
                                                 limiter=self._one_at_a_time)
        await send_json(send, 200, payload)


def _unavailable(problem: str) -> ApiError:
    return ApiError(503, f"The embedding model is not available: {problem}",
                    code="embedding_model_unavailable")


def _embed(embedder: Embedder, request: EmbeddingRequest) -> bytes:
    """The response body, made in the worker thread: a few hundred vectors as JSON numbers
    take a while to write."""
    if request.texts is not None:
        vectors = embedder.embed(request.texts)
        tokens = sum(map(len, embedder.encode(request.texts)))
    else:
        assert request.ids is not None
        vectors = embedder.embed_ids(request.ids)
        tokens = sum(min(len(ids), embedder.max_tokens) for ids in request.ids)
    return json.dumps({
        "object": "list",
        "data": [{"object": "embedding", "index": index,
                  "embedding": _encoded(vector, request.base64)}
                 for index, vector in enumerate(vectors)],
        "model": embedder.name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }).encode()


def _encoded(vector: np.ndarray, as_base64: bool) -> list[float] | str:
    # OpenAI's base64: the float32 values, little-endian, as bytes.
    if as_base64:
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()
