"""The ASGI app: a thin gateway in front of llama-cpp-python's OpenAI server.

llama-cpp-python serves the OpenAI API. The gateway adds what it lacks: `/health` that
answers while the model loads, a 404 for a model that is not on offer (the stock server
silently falls back to its default), and OpenAI-style 4xx bodies for malformed JSON, bad
parameters and bad keys. It reads a request body once, before the inner app runs, and
never touches the streamed response, so it adds nothing per token.

It also answers `/v1/models` and `POST /tokenize/count` itself, from what it knows and a
vocab-only copy of each model: llama-cpp-python's own routes wait for the generation lock,
so a chat app counting tokens for a new prompt would stall behind another user's stream.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from llama_cpp.server.app import create_app
from llama_cpp.server.settings import ModelSettings, ServerSettings
from starlette.types import Message, Receive, Scope, Send

from llmserver.errors import error_payload, send_error, send_json
from llmserver.models import ModelEntry, discover
from llmserver.settings import Settings
from llmserver.tokens import Tokenizers

log = logging.getLogger("llmserver")

GENERATION_PATHS = {"/v1/chat/completions", "/v1/completions"}
TOKENIZE_COUNT_PATH = "/tokenize/count"

# (HTTP status, message, OpenAI error code, offending parameter)
Problem = tuple[int, str, str, str | None]
MAX_BODY_BYTES = 8 * 1024 * 1024


def build_inner_app(settings: Settings, entries: list[ModelEntry]) -> FastAPI:
    """llama-cpp-python's app, loading the first model; blocks until it is loaded."""
    server_settings = ServerSettings(
        host=settings.host,
        port=settings.port,
        api_key=settings.api_key,
        # The stock server cancels a running stream when another request arrives;
        # a second user must wait their turn instead of cutting off the first.
        interrupt_requests=False,
    )
    model_settings = [
        ModelSettings(
            model=str(entry.path),
            model_alias=entry.alias,
            chat_format=entry.chat_format,
            n_ctx=settings.n_ctx,
            n_threads=settings.threads,
            n_threads_batch=settings.threads,
            seed=settings.seed,
            verbose=settings.verbose,
        )
        for entry in entries
    ]
    app = create_app(server_settings=server_settings, model_settings=model_settings)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    return app


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
    message = f"{param}: {first.get('msg')}" if param else str(first.get("msg", "invalid request"))
    return JSONResponse(error_payload(400, message, param=param), status_code=400)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        error_payload(exc.status_code, str(exc.detail)), status_code=exc.status_code
    )


class Gateway:
    """ASGI entry point; the model loads in a thread so `/health` answers 503 meanwhile."""

    def __init__(self, settings: Settings, on_load_failure: Callable[[], None] | None = None):
        self.settings = settings
        self.inner: FastAPI | None = None
        self.aliases: list[str] = []
        self.created = int(time.time())
        # Generation requests in flight: lets a client see that a stop really ended one.
        self.active = 0
        self.tokenizers: Tokenizers | None = None
        self._on_load_failure = on_load_failure
        self._loader: threading.Thread | None = None

    def start_loading(self) -> None:
        if self._loader is None:
            self._loader = threading.Thread(target=self._load, name="model-loader", daemon=True)
            self._loader.start()

    def _load(self) -> None:
        try:
            entries = discover(self.settings.models_dir, self.settings.model)
            log.info("loading %s (%s)", entries[0].alias, entries[0].path)
            inner = build_inner_app(self.settings, entries)
        except BaseException as exc:  # SystemExit from discover carries the message to show
            log.error("could not load the model: %s", exc)
            if self._on_load_failure:
                self._on_load_failure()
            return
        self.tokenizers = Tokenizers(entries)
        self.aliases = [e.alias for e in entries]
        self.inner = inner
        log.info("ready: %s; also offered: %s", self.aliases[0], ", ".join(self.aliases[1:]) or "-")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/health":
            await self._health(send)
            return
        if self.inner is None:
            await send_error(
                send,
                503,
                "The model is still loading; retry shortly.",
                code="model_loading",
                headers=[(b"retry-after", b"2")],
            )
            return
        if self.settings.api_key and not self._authorized(scope):
            await send_error(
                send,
                401,
                "Missing or invalid API key.",
                code="invalid_api_key",
                headers=[(b"www-authenticate", b"Bearer")],
            )
            return
        if path == "/v1/models" and scope["method"] == "GET":
            await send_json(send, 200, self._models())
            return
        if path == TOKENIZE_COUNT_PATH and scope["method"] == "POST":
            await self._tokenize_count(receive, send)
            return
        if scope["method"] == "POST" and path in GENERATION_PATHS:
            body = await _read_body(receive)
            if body is None:
                await send_error(send, 413, f"Request body over {MAX_BODY_BYTES} bytes.")
                return
            problem = self._check_generation_request(path, body)
            if problem is None:
                problem = await anyio.to_thread.run_sync(self._check_stream_fits, path, body)
            if problem:
                status, message, code, param = problem
                await send_error(send, status, message, code=code, param=param)
                return
            self.active += 1
            try:
                await self.inner(scope, _replay(body, receive), send)
            finally:
                self.active -= 1
            return
        await self.inner(scope, receive, send)

    def _models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": alias,
                    "object": "model",
                    "created": self.created,
                    "owned_by": "llmserver",
                    "meta": {"n_ctx": self.settings.n_ctx},
                }
                for alias in self.aliases
            ],
        }

    async def _tokenize_count(self, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        try:
            request = json.loads(body or b"")
            text, model = request["input"], request.get("model") or self.aliases[0]
            if not isinstance(text, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            await send_error(
                send, 400, 'Expected a JSON object {"input": str, "model"?: str}.', param="input"
            )
            return
        if model not in self.aliases:
            await send_error(
                send,
                404,
                f"The model {model!r} does not exist.",
                code="model_not_found",
                param="model",
            )
            return
        assert self.tokenizers is not None
        count = await anyio.to_thread.run_sync(self.tokenizers.count, model, text)
        await send_json(send, 200, {"count": count})

    def _authorized(self, scope: Scope) -> bool:
        expected = f"Bearer {self.settings.api_key}".encode()
        given = dict(scope["headers"]).get(b"authorization", b"")
        return hmac.compare_digest(given, expected)

    def _check_generation_request(self, path: str, body: bytes) -> Problem | None:
        try:
            request: Any = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return 400, f"Request body is not valid JSON: {exc}", "invalid_json", None
        if not isinstance(request, dict):
            return 400, "Request body must be a JSON object.", "invalid_request", None
        if path == "/v1/chat/completions":
            messages = request.get("messages")
            if not isinstance(messages, list) or not messages:
                return 400, "messages must be a non-empty list.", "invalid_value", "messages"
        model = request.get("model")
        if model is not None and model not in self.aliases:
            return (
                404,
                f"The model {model!r} does not exist. Available: {', '.join(self.aliases)}.",
                "model_not_found",
                "model",
            )
        for param in ("max_tokens", "max_completion_tokens"):
            value = request.get(param)
            if value is not None and (not isinstance(value, int) or value < 1):
                return (
                    400,
                    f"{param} must be a positive integer, got {value!r}.",
                    "invalid_value",
                    param,
                )
        return None

    def _check_stream_fits(self, path: str, body: bytes) -> Problem | None:
        """400 for a streamed prompt longer than the context.

        A non-streamed request gets that 400 from llama-cpp-python itself; a streamed one
        would get a 200 and an empty, broken event stream, because the engine only finds
        out once the response has started.
        """
        request = json.loads(body)
        if not request.get("stream") or self.tokenizers is None:
            return None
        alias = request.get("model") or self.aliases[0]
        try:
            if path == "/v1/chat/completions":
                tokens = self.tokenizers.chat_prompt_tokens(alias, request["messages"])
            else:
                prompt = request.get("prompt", "")
                if not isinstance(prompt, str):
                    return None  # token lists and batches: left to the engine
                tokens = self.tokenizers.count(alias, prompt, add_bos=True)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # malformed messages: the engine's validation answers with a 400
        if tokens < self.settings.n_ctx:
            return None
        return (
            400,
            f"Requested tokens ({tokens}) exceed context window of {self.settings.n_ctx}",
            "context_length_exceeded",
            "messages",
        )

    async def _health(self, send: Send) -> None:
        if self.inner is None:
            await send_json(send, 503, {"status": "loading"})
            return
        await send_json(
            send,
            200,
            {
                "status": "ok",
                "model": self.aliases[0],
                "models": self.aliases,
                "n_ctx": self.settings.n_ctx,
                "active": self.active,
            },
        )


async def _read_body(receive: Receive) -> bytes | None:
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


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the already-read body, then defers to the real one
    (so the inner app still learns when the client disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
