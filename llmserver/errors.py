"""Every failure a client is told about: one exception, raised where the failure is found,
and rendered once, at the edge (`send_error`), as an OpenAI-style body
`{"error": {"message", "type", "param", "code"}}`.

The constructors below are the whole table of answers llmserver gives; `type` follows from
the status.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response
from starlette.types import Send

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    503: "server_error",
}

# llama-server's error types, as llmserver's (status, code, param).
LLAMA_SERVER_ERRORS: dict[str, tuple[int, str, str | None]] = {
    "exceed_context_size_error": (400, "context_length_exceeded", "messages"),
    "unavailable_error": (503, "model_loading", None),
}


class ApiError(Exception):
    """A request that ends in an error answer. `started`: raised after the response began
    (inside an event stream), so it can only be told as a last event."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        started: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = ERROR_TYPES.get(status, "server_error")
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.started = started

    def body(self) -> bytes:
        return json.dumps({"error": {"message": self.message, "type": self.type,
                                     "param": self.param, "code": self.code}}).encode()

    def response(self) -> Response:
        """The answer for an exception handler inside llama-cpp-python's app."""
        return Response(self.body(), status_code=self.status, headers=self.headers,
                        media_type="application/json")


async def send_error(send: Send, error: ApiError) -> None:
    if error.started:
        # Inside an event stream the OpenAI clients raise on an `error` event.
        await send({"type": "http.response.body", "body": b"data: " + error.body() + b"\n\n"})
        return
    headers = [(k.encode(), v.encode()) for k, v in error.headers.items()]
    await send_json(send, error.status, error.body(), headers)


async def send_json(
    send: Send, status: int, payload: dict[str, Any] | bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]})
    await send({"type": "http.response.body", "body": body})


# The answers ------------------------------------------------------------------------

def loading() -> ApiError:
    return ApiError(503, "The model is still loading; retry shortly.", code="model_loading",
                    headers={"retry-after": "2"})


def unauthorized() -> ApiError:
    return ApiError(401, "Missing or invalid API key.", code="invalid_api_key",
                    headers={"www-authenticate": "Bearer"})


def not_found(message: str) -> ApiError:
    return ApiError(404, message, code="not_found")


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body over {limit} bytes.")


def bad_request(message: str, *, code: str | None = None, param: str | None = None) -> ApiError:
    return ApiError(400, message, code=code, param=param)


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object, or the 400 saying what it is instead."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"Request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(request, dict):
        raise bad_request("Request body must be a JSON object.", code="invalid_request")
    return request


def model_not_found(model: object, available: list[str] | None = None) -> ApiError:
    offer = f" Available: {', '.join(available)}." if available else ""
    return ApiError(404, f"The model {model!r} does not exist.{offer}", code="model_not_found",
                    param="model")


def context_length_exceeded(message: str) -> ApiError:
    return ApiError(400, message, code="context_length_exceeded", param="messages")


def engine_unavailable(problem: str) -> ApiError:
    return ApiError(503, f"The model server is not ready: {problem}", code="engine_unavailable",
                    headers={"retry-after": "5"})


def engine_crashed(problem: str, *, started: bool) -> ApiError:
    return ApiError(503, "The model server's engine stopped while answering "
                    f"({problem or 'it is being restarted'}).", code="engine_crashed",
                    started=started)


def from_llama_server(status: int, raw: bytes) -> ApiError:
    """llama-server's own error answer, in llmserver's terms."""
    try:
        error = json.loads(raw)["error"]
        message, kind = str(error.get("message", "")), str(error.get("type", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        message, kind = raw.decode(errors="replace")[:500], ""
    status, code, param = LLAMA_SERVER_ERRORS.get(kind, (status, kind or None, None))
    return ApiError(status, message or f"llama-server answered {status}", code=code, param=param)
