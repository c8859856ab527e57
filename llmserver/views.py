"""The answers made from the gateway's state: `/health`, `/v1/models`, `/metrics` and
`/tokenize/count`. Generation, embeddings and pulls are passed on (`app.py`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio
from starlette.types import Receive, Scope, Send

from llmserver import errors
from llmserver.bodies import read_body
from llmserver.errors import send_json
from llmserver.metrics import CONTENT_TYPE
from llmserver.models.chat_format import BASE_MODEL_FORMAT

if TYPE_CHECKING:
    from llmserver.app import Gateway


async def health(gateway: Gateway, send: Send) -> None:
    """503 until a model is loaded and the engine serves, then what a client sizes itself by."""
    engine = gateway.engine
    if not gateway.ready or engine is None:
        await send_json(send, 503, {"status": "loading"})
        return
    if engine.problem:
        await send_json(send, 503, {"status": "unavailable", "error": engine.problem})
        return
    await send_json(
        send,
        200,
        {
            "status": "ok",
            "model": gateway.aliases[0],
            "models": gateway.aliases,
            "n_ctx": gateway.n_ctx_of(gateway.aliases[0]),
            "active": gateway.active,
            "engine": engine.name,
            "slots": engine.slots,
        },
    )


async def models(gateway: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    """The models on offer, the first loaded first, then the embedding model."""
    await send_json(send, 200, {
        "object": "list",
        "data": [
            {
                "id": alias,
                "object": "model",
                "created": gateway.created,
                "owned_by": "llmserver",
                # chat_template false: a base model, which llmserver prompts with its
                # plain transcript; a client may prefer writing a completion prompt.
                "meta": {"n_ctx": gateway.n_ctx_of(alias),
                         "chat_template": _has_template(gateway, alias)},
                "description": gateway.config_of(alias).description,
            }
            for alias in gateway.aliases
        ] + await _embedding_models(gateway),
    })


def _has_template(gateway: Gateway, alias: str) -> bool:
    entry = gateway.entries.get(alias)
    return entry is None or entry.chat_format != BASE_MODEL_FORMAT


async def _embedding_models(gateway: Gateway) -> list[dict[str, Any]]:
    """The embedding model's entry, last so that a client taking the first model gets
    an LLM; `type` tells a model picker to leave it out."""
    name = await gateway.embeddings.model_name()
    return [{"id": name, "object": "model", "created": gateway.created,
             "owned_by": "llmserver", "type": "embedding"}] if name else []


async def metrics(gateway: Gateway, send: Send) -> None:
    """llmserver's own metrics, then the engine's while it serves."""
    text = gateway.metrics.render()
    if gateway.ready and gateway.engine is not None:
        text += await gateway.engine.metrics() or ""
    body = text.encode()
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", CONTENT_TYPE), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def tokenize_count(gateway: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    """Tokens of `input` for a model, counted outside the engine, so never behind a
    generation."""
    body = await read_body(receive)
    try:
        request = json.loads(body or b"")
        text, model = request["input"], request.get("model") or gateway.aliases[0]
        if not isinstance(text, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise errors.bad_request('Expected a JSON object {"input": str, "model"?: str}.',
                                 param="input") from None
    if model not in gateway.aliases:
        raise errors.model_not_found(model)
    assert gateway.tokenizers is not None
    count = await anyio.to_thread.run_sync(gateway.tokenizers.count, model, text)
    await send_json(send, 200, {"count": count})
