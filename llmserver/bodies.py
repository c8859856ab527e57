"""Request bodies: read once, up to a size limit, and the checks a generation request
passes before any engine sees it (4xx answers in OpenAI's shape)."""

from __future__ import annotations

from typing import Any

from starlette.types import Receive

from llmserver import errors

MAX_BODY_BYTES = 8 * 1024 * 1024


async def read_body(receive: Receive) -> bytes | None:
    """The whole body, or None once it grows past MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def checked_generation(path: str, body: bytes, aliases: list[str]) -> dict[str, Any]:
    """The generation request, parsed, or the 4xx for what is wrong with it."""
    request = errors.json_object(body)
    if path == "/v1/chat/completions":
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            raise errors.bad_request("messages must be a non-empty list.",
                                     code="invalid_value", param="messages")
    model = request.get("model")
    if model is not None and model not in aliases:
        raise errors.model_not_found(model, aliases)
    for param in ("max_tokens", "max_completion_tokens"):
        value = request.get(param)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise errors.bad_request(f"{param} must be a positive integer, got {value!r}.",
                                     code="invalid_value", param=param)
    return request
