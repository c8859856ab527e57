"""What the gateway needs of an inference engine, the choice of one, and the ASGI helper
the engines share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from starlette.types import Message, Receive, Scope, Send

from llmserver.models.discovery import ModelEntry
from llmserver.models.tokens import Tokenizers
from llmserver.settings import Settings


class EngineFailed(Exception):
    """The engine cannot serve (it would not start, or keeps crashing): the message says why
    in words a person running the server understands."""


class Engine(Protocol):
    name: str
    # Requests generated at once; the rest wait inside the engine, in arrival order.
    slots: int
    # Why the engine is not serving right now ("" while it is), for /health.
    problem: str
    # Times it died while serving and was started again, for /metrics.
    restarts: int

    async def start(self, entries: list[ModelEntry]) -> None:
        """Load the first model and generate one token; raise EngineFailed if it cannot."""

    def offer(self, entries: list[ModelEntry]) -> bool:
        """Serve these models too from now on (a pull saved them); False when this engine
        only takes new models at its start."""

    async def stop(self) -> None: ...

    def kill(self) -> None:
        """Stop at once, without awaiting anything (the event loop is going away)."""

    async def metrics(self) -> str | None:
        """The engine's own Prometheus metrics (text format 0.0.4), if it has any."""

    async def generate(
        self, path: str, request: dict[str, Any], body: bytes, alias: str, scope: Scope,
        receive: Receive, send: Send,
    ) -> None:
        """Answer a validated generation request for model `alias`: `request` is the body
        the gateway already read (`body`) and parsed, so no engine parses it again. An error
        answer is raised as `errors.ApiError` (`started=True` once the response has begun)."""


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the already-read body, then defers to the real one
    (so the inner app still learns when the client disconnects)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def make_engine(settings: Settings, tokenizers: Tokenizers,
                on_fatal: Callable[[str], None]) -> Engine:
    """The engine LLM_ENGINE names; `on_fatal(message)` when it can no longer serve."""
    # Imported here: each engine pulls in its own stack, and only one of them is used.
    if settings.engine == "llama-cpp-python":
        from llmserver.engines.inprocess import InProcessEngine

        return InProcessEngine(settings, tokenizers)
    from llmserver.engines.llama_server import LlamaServerEngine

    return LlamaServerEngine(settings, on_fatal)
