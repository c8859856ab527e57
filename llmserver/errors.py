"""Failures mapped to OpenAI-style HTTP answers, in one place."""

from __future__ import annotations

import json

from starlette.types import Send

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    503: "server_error",
}


def error_body(status: int, message: str, *, code: str | None = None,
               param: str | None = None) -> bytes:
    return json.dumps(
        {
            "error": {
                "message": message,
                "type": ERROR_TYPES.get(status, "server_error"),
                "param": param,
                "code": code,
            }
        }
    ).encode()


async def send_error(send: Send, status: int, message: str, *, code: str | None = None,
                     param: str | None = None, headers: list[tuple[bytes, bytes]] | None = None
                     ) -> None:
    body = error_body(status, message, code=code, param=param)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
