"""The ASGI app: llmserver's own interface in front of an inference engine.

The engine (`LLM_ENGINE`: llama.cpp's `llama-server`, supervised, or llama-cpp-python in
process) generates. The gateway adds what a product needs around it: `/health` that answers
while the model loads and says ok only once it has generated, model aliases (404 for one not
on offer), the API key, OpenAI-style 4xx bodies for malformed JSON and bad parameters, and a
token count that never waits behind a generation, and `/metrics` (its own, then the
engine's), and `/v1/embeddings` from rag's embedding model (llmserver.embeddings), which
answers while the LLM still loads, and `/v1/models/pull` (llmserver.pull.endpoint), a download from
Hugging Face offered as soon as it is saved. Every error answer, the engines' too, is an
`errors.ApiError` raised where the failure is found and rendered here, once, and counted.
It reads a request body once, before the engine runs, and passes the streamed response
through untouched, so it adds nothing per token.

Web pages are refused before anything else (llmserver.browsers: a Host not in
LLM_ALLOWED_HOSTS, an Origin not in LLM_ALLOWED_ORIGINS, a POST that is not JSON), so that
no page a visitor's browser shows can pull or generate through it.

The API key (LLM_API_KEY) guards everything but `/health`, which orchestrators poll without
credentials and which says no more than whether a model is loaded. `/metrics` needs the key:
it shows the models and the load, and a scraper can send a bearer token.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.types import Receive, Scope, Send

from llmserver import errors
from llmserver.browsers import BrowserGuard, answer_preflight, with_cors
from llmserver.embeddings import EMBEDDINGS_PATH, Embeddings
from llmserver.engines.base import Engine, EngineFailed, make_engine
from llmserver.errors import ApiError, send_error, send_json
from llmserver.metrics import CONTENT_TYPE, EngineState, Metrics
from llmserver.models.chat_format import BASE_MODEL_FORMAT
from llmserver.models.config import ModelConfig
from llmserver.models.discovery import ModelEntry, discover
from llmserver.models.tokens import Tokenizers
from llmserver.pull.endpoint import CATALOG_PATH, PULL_PATH, Pulls
from llmserver.settings import Settings

log = logging.getLogger("llmserver")

GENERATION_PATHS = {"/v1/chat/completions", "/v1/completions"}
TOKENIZE_COUNT_PATH = "/tokenize/count"
MAX_BODY_BYTES = 8 * 1024 * 1024

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


class Gateway:
    """ASGI entry point. Loading starts with the lifespan's startup; until the engine has
    loaded the model and generated one token, `/health` answers 503."""

    def __init__(self, settings: Settings, on_fatal: Callable[[str], None] | None = None):
        self.settings = settings
        self.engine: Engine | None = None
        self.ready = False
        self.aliases: list[str] = []
        # By alias, with each model's yaml configuration; set with `aliases`.
        self.entries: dict[str, ModelEntry] = {}
        self.created = int(time.time())
        # Generation requests in flight: lets a client see that a stop really ended one.
        self.active = 0
        self.tokenizers: Tokenizers | None = None
        self._on_fatal = on_fatal or (lambda _: None)
        self.metrics = Metrics(self._engine_state)
        self.embeddings = Embeddings(settings)
        self.pulls = Pulls(settings.models_dir, self._offer_pulled)
        self.browsers = BrowserGuard(settings)
        # Everything but /health, /metrics and /v1/embeddings, which answer before the
        # model is loaded.
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/v1/models"): self._models,
            ("POST", TOKENIZE_COUNT_PATH): self._tokenize_count,
            **{("POST", path): self._generate for path in GENERATION_PATHS},
            **{route: self._pull for route in (("POST", PULL_PATH), ("GET", PULL_PATH),
                                               ("GET", CATALOG_PATH))},
        }

    async def load(self) -> None:
        try:
            entries = await anyio.to_thread.run_sync(
                discover, self.settings.models_dir, self.settings.model
            )
            log.info("loading %s (%s) with %s", entries[0].alias, entries[0].path,
                     self.settings.engine)
            self.tokenizers = Tokenizers(entries)
            self.engine = make_engine(self.settings, self.tokenizers, self._fatal)
            await self.engine.start(entries)
        except (EngineFailed, SystemExit) as exc:  # SystemExit: discover's message to show
            self._fatal(str(exc))
            return
        except Exception as exc:
            log.exception("loading failed")
            self._fatal(f"{type(exc).__name__}: {exc}")
            return
        self.aliases = [e.alias for e in entries]
        self.entries = {e.alias: e for e in entries}
        self.ready = True
        log.info("ready: %s; also offered: %s", self.aliases[0], ", ".join(self.aliases[1:]) or "-")

    def _offer_pulled(self, alias: str) -> None:
        """Offer the GGUFs a pull from the page saved, after those already on offer (so the
        default model stays the same)."""
        found = discover(self.settings.models_dir, self.settings.model)
        new = [e for e in found if e.alias not in self.entries]
        if alias not in {e.alias for e in found}:
            raise RuntimeError("its configuration cannot be used (see llmserver's log)")
        assert self.engine is not None and self.tokenizers is not None
        if not self.engine.offer(new):
            raise RuntimeError(f"restart llmserver to offer it (the {self.engine.name} "
                               "engine takes its models at start)")
        self.tokenizers.offer(new)
        self.entries = {**self.entries, **{e.alias: e for e in new}}
        self.aliases = self.aliases + [e.alias for e in new]
        log.info("now also offered: %s", ", ".join(e.alias for e in new) or "-")

    def _fatal(self, message: str) -> None:
        log.error("the model server cannot serve: %s", message)
        self._on_fatal(message)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        group.start_soon(self.load)
                        await send({"type": "lifespan.startup.complete"})
                    elif message["type"] == "lifespan.shutdown":
                        group.cancel_scope.cancel()
                        if self.engine is not None:
                            with anyio.CancelScope(shield=True):
                                await self.engine.stop()
                        await send({"type": "lifespan.shutdown.complete"})
                        return
        except asyncio.CancelledError:
            # A forced exit (a second Ctrl-C) skips the shutdown event: the engine must not
            # outlive us all the same, and this is the end of the process, not an error.
            if self.engine is not None:
                self.engine.kill()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self.metrics.request(scope["path"])
        try:
            # Before anything else, the key too: a web page's request is refused whatever
            # it carries (llmserver.browsers).
            if scope["path"] != "/health":
                origin = self.browsers.check(scope)
                if origin is not None:  # a page of LLM_ALLOWED_ORIGINS
                    if scope["method"] == "OPTIONS":
                        await answer_preflight(origin, send)
                        return
                    send = with_cors(origin, send)
            await self._route(scope, receive, send)
        except ApiError as error:
            self.metrics.error(error.code or str(error.status))
            await send_error(send, error)
        except Exception:
            self.metrics.error("internal")
            raise

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/health":
            await self._health(send)
            return
        if path == "/metrics" and method == "GET":
            self._check_key(scope)
            await self._metrics(send)
            return
        if path == EMBEDDINGS_PATH and method == "POST":
            # Not the engine's model, so not the engine's readiness: rag can embed while
            # the LLM loads.
            self._check_key(scope)
            await self._embed(receive, send)
            return
        if not self.ready or self.engine is None:
            raise errors.loading()
        self._check_key(scope)
        handler = self._routes.get((method, path))
        if handler is None:
            raise errors.not_found(f"No route {method} {path}.")
        await handler(scope, receive, send)

    async def _generate(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.engine is not None
        body = await _read_body(receive)
        if body is None:
            raise errors.too_large(MAX_BODY_BYTES)
        path = scope["path"]
        request = self._checked(path, body)
        alias = request.get("model") or self.aliases[0]
        request, body = self._config(alias).applied(path, request, body)
        self.active += 1
        try:
            await self.engine.generate(path, request, body, alias, scope, receive, send)
        finally:
            self.active -= 1

    async def _pull(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive) if scope["method"] == "POST" else b""
        await self.pulls.answer(scope, body, send)

    async def _embed(self, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            raise errors.too_large(MAX_BODY_BYTES)
        await self.embeddings.answer(body, send)

    def _checked(self, path: str, body: bytes) -> dict[str, Any]:
        """The generation request, parsed, or the 4xx for what is wrong with it."""
        request = errors.json_object(body)
        if path == "/v1/chat/completions":
            messages = request.get("messages")
            if not isinstance(messages, list) or not messages:
                raise errors.bad_request("messages must be a non-empty list.",
                                         code="invalid_value", param="messages")
        model = request.get("model")
        if model is not None and model not in self.aliases:
            raise errors.model_not_found(model, self.aliases)
        for param in ("max_tokens", "max_completion_tokens"):
            value = request.get(param)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise errors.bad_request(f"{param} must be a positive integer, got {value!r}.",
                                         code="invalid_value", param=param)
        return request

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, {
            "object": "list",
            "data": [
                {
                    "id": alias,
                    "object": "model",
                    "created": self.created,
                    "owned_by": "llmserver",
                    # chat_template false: a base model, which llmserver prompts with its
                    # plain transcript; a client may prefer writing a completion prompt.
                    "meta": {"n_ctx": self._n_ctx(alias),
                             "chat_template": self._has_template(alias)},
                    "description": self._config(alias).description,
                }
                for alias in self.aliases
            ] + await self._embedding_models(),
        })

    def _has_template(self, alias: str) -> bool:
        entry = self.entries.get(alias)
        return entry is None or entry.chat_format != BASE_MODEL_FORMAT

    async def _embedding_models(self) -> list[dict[str, Any]]:
        """The embedding model's entry, last so that a client taking the first model gets
        an LLM; `type` tells a model picker to leave it out."""
        name = await self.embeddings.model_name()
        return [{"id": name, "object": "model", "created": self.created,
                 "owned_by": "llmserver", "type": "embedding"}] if name else []

    def _config(self, alias: str) -> ModelConfig:
        """`alias`'s yaml configuration; an alias offered without an entry (a gateway whose
        aliases were given directly) is served unconfigured."""
        entry = self.entries.get(alias)
        return entry.config if entry is not None else ModelConfig()

    def _n_ctx(self, alias: str) -> int:
        return self._config(alias).n_ctx or self.settings.n_ctx

    async def _metrics(self, send: Send) -> None:
        text = self.metrics.render()
        if self.ready and self.engine is not None:
            text += await self.engine.metrics() or ""
        body = text.encode()
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", CONTENT_TYPE), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _engine_state(self) -> EngineState:
        engine = self.engine
        return EngineState(ready=self.ready and engine is not None and not engine.problem,
                           generating=self.active,
                           restarts=engine.restarts if engine is not None else 0)

    async def _tokenize_count(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        try:
            request = json.loads(body or b"")
            text, model = request["input"], request.get("model") or self.aliases[0]
            if not isinstance(text, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise errors.bad_request('Expected a JSON object {"input": str, "model"?: str}.',
                                     param="input") from None
        if model not in self.aliases:
            raise errors.model_not_found(model)
        assert self.tokenizers is not None
        count = await anyio.to_thread.run_sync(self.tokenizers.count, model, text)
        await send_json(send, 200, {"count": count})

    def _check_key(self, scope: Scope) -> None:
        if not self.settings.api_key:
            return
        expected = f"Bearer {self.settings.api_key}".encode()
        given = dict(scope["headers"]).get(b"authorization", b"")
        if not hmac.compare_digest(given, expected):
            raise errors.unauthorized()

    async def _health(self, send: Send) -> None:
        engine = self.engine
        if not self.ready or engine is None:
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
                "model": self.aliases[0],
                "models": self.aliases,
                "n_ctx": self._n_ctx(self.aliases[0]),
                "active": self.active,
                "engine": engine.name,
                "slots": engine.slots,
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
