"""`LLM_ENGINE=llama-cpp-python`: llama-cpp-python's OpenAI server, in this process.

One generation at a time (a second request waits for the first to finish, never cuts it
off). Kept for platforms where `llama-server` cannot be built; a crash of llama.cpp here
ends the whole llmserver process (`make run` then says so).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from llama_cpp.server.app import create_app
from llama_cpp.server.settings import ModelSettings, ServerSettings
from starlette.types import Receive, Scope, Send

from llmserver import errors
from llmserver.engines.base import EngineFailed, replay
from llmserver.errors import ApiError
from llmserver.models.chat_format import register_template
from llmserver.models.discovery import ModelEntry
from llmserver.models.tokens import Tokenizers
from llmserver.settings import Settings

log = logging.getLogger("llmserver")


def build_inner_app(settings: Settings, entries: list[ModelEntry]) -> FastAPI:
    """llama-cpp-python's app, loading the first model; blocks until it is loaded."""
    server_settings = ServerSettings(
        host=settings.host,
        port=settings.port,
        # The stock server cancels a running stream when another request arrives;
        # a second user must wait their turn instead of cutting off the first.
        interrupt_requests=False,
    )
    model_settings = [
        ModelSettings(
            model=str(entry.path),
            model_alias=entry.alias,
            chat_format=(register_template(entry.alias, entry.chat_template, entry.path)
                         if entry.chat_template is not None else entry.chat_format),
            n_ctx=entry.n_ctx(settings.n_ctx),
            n_threads=settings.threads,
            n_threads_batch=settings.threads,
            seed=settings.seed,
            verbose=settings.verbose,
        )
        for entry in entries
    ]
    app = create_app(server_settings=server_settings, model_settings=model_settings)
    # Its routes answer their own failures (a body its validation rejects: a 500 in OpenAI's
    # shape); the HTTPException they let through (the client left before generation) gets
    # llmserver's answer.
    app.add_exception_handler(HTTPException, _http_error)
    return app


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return ApiError(exc.status_code, str(exc.detail)).response()


class InProcessEngine:
    name = "llama-cpp-python"
    slots = 1
    restarts = 0  # a crash of llama.cpp here ends the process

    def __init__(self, settings: Settings, tokenizers: Tokenizers):
        self.settings = settings
        self.tokenizers = tokenizers
        self.inner: FastAPI | None = None
        self.problem = ""
        self._entries: dict[str, ModelEntry] = {}

    async def start(self, entries: list[ModelEntry]) -> None:
        self._entries = {e.alias: e for e in entries}
        inner = await anyio.to_thread.run_sync(build_inner_app, self.settings, entries)
        # One token before /health says ok: an engine that cannot generate on this CPU
        # fails here, not on the first user's request.
        transport = httpx.ASGITransport(app=inner)
        async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
            warm = await client.post(
                "/v1/completions", json={"prompt": "Hello", "max_tokens": 1}, timeout=300
            )
        if warm.status_code != 200:
            raise EngineFailed(f"the warm-up generation failed: {warm.text[:500]}")
        self.inner = inner

    def offer(self, entries: list[ModelEntry]) -> bool:
        # llama-cpp-python's server takes its models' settings once, when it is built.
        return False

    async def stop(self) -> None:
        self.inner = None

    def kill(self) -> None:
        self.inner = None

    async def metrics(self) -> str | None:
        return None

    async def generate(
        self, path: str, request: dict[str, Any], body: bytes, alias: str, scope: Scope,
        receive: Receive, send: Send,
    ) -> None:
        assert self.inner is not None
        problem = await anyio.to_thread.run_sync(self._stream_too_long, path, request, alias)
        if problem:
            raise errors.context_length_exceeded(problem)
        await self.inner(scope, replay(body, receive), send)

    def _stream_too_long(self, path: str, request: dict[str, Any], alias: str) -> str | None:
        """The 400 for a streamed prompt longer than the context.

        A non-streamed request gets that 400 from llama-cpp-python itself; a streamed one
        would get a 200 and an empty, broken event stream, because the engine only finds
        out once the response has started.
        """
        if not request.get("stream"):
            return None
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
        n_ctx = self._entries[alias].n_ctx(self.settings.n_ctx)
        if tokens < n_ctx:
            return None
        return f"Requested tokens ({tokens}) exceed context window of {n_ctx}"
