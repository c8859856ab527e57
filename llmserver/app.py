"""The ASGI app: llmserver's own interface in front of an inference engine.

The engine (`LLM_ENGINE`: llama.cpp's `llama-server`, supervised, or llama-cpp-python in
process) generates. The gateway adds what a product needs around it: `/health` that answers
while the model loads and says ok only once it has generated, model aliases (404 for one not
on offer), the API key, OpenAI-style 4xx bodies for malformed JSON and bad parameters, and a
token count that never waits behind a generation, and `/metrics` (its own, then the
engine's), and `/v1/embeddings` from rag's embedding model (llmserver.embeddings), which
answers while the LLM still loads, and `/v1/models/pull` (llmserver.pull.endpoint), a
download from Hugging Face offered as soon as it is saved. Every error answer, the
engines' too, is an `errors.ApiError` raised where the failure is found and rendered here,
once, and counted. The read-only answers are in `views.py`, request bodies in `bodies.py`.
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
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial

import anyio
from starlette.types import Receive, Scope, Send

from llmserver import errors, views
from llmserver.bodies import MAX_BODY_BYTES, checked_generation, read_body
from llmserver.browsers import BrowserGuard, answer_preflight, with_cors
from llmserver.embeddings import EMBEDDINGS_PATH, Embeddings
from llmserver.engines.base import Engine, EngineFailed, make_engine
from llmserver.errors import ApiError, send_error
from llmserver.metrics import EngineState, Metrics
from llmserver.models.config import ModelConfig
from llmserver.models.discovery import ModelEntry, discover
from llmserver.models.tokens import Tokenizers
from llmserver.pull.endpoint import CATALOG_PATH, PULL_PATH, Pulls
from llmserver.settings import Settings

log = logging.getLogger("llmserver")

GENERATION_PATHS = {"/v1/chat/completions", "/v1/completions"}
TOKENIZE_COUNT_PATH = "/tokenize/count"

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
            ("GET", "/v1/models"): partial(views.models, self),
            ("POST", TOKENIZE_COUNT_PATH): partial(views.tokenize_count, self),
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
            await views.health(self, send)
            return
        if path == "/metrics" and method == "GET":
            self._check_key(scope)
            await views.metrics(self, send)
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
        body = await read_body(receive)
        if body is None:
            raise errors.too_large(MAX_BODY_BYTES)
        path = scope["path"]
        request = checked_generation(path, body, self.aliases)
        alias = request.get("model") or self.aliases[0]
        request, body = self.config_of(alias).applied(path, request, body)
        self.active += 1
        try:
            await self.engine.generate(path, request, body, alias, scope, receive, send)
        finally:
            self.active -= 1

    async def _pull(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive) if scope["method"] == "POST" else b""
        await self.pulls.answer(scope, body, send)

    async def _embed(self, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        if body is None:
            raise errors.too_large(MAX_BODY_BYTES)
        await self.embeddings.answer(body, send)

    def config_of(self, alias: str) -> ModelConfig:
        """`alias`'s yaml configuration; an alias offered without an entry (a gateway whose
        aliases were given directly) is served unconfigured."""
        entry = self.entries.get(alias)
        return entry.config if entry is not None else ModelConfig()

    def n_ctx_of(self, alias: str) -> int:
        return self.config_of(alias).n_ctx or self.settings.n_ctx

    def _engine_state(self) -> EngineState:
        engine = self.engine
        return EngineState(ready=self.ready and engine is not None and not engine.problem,
                           generating=self.active,
                           restarts=engine.restarts if engine is not None else 0)

    def _check_key(self, scope: Scope) -> None:
        if not self.settings.api_key:
            return
        expected = f"Bearer {self.settings.api_key}".encode()
        given = dict(scope["headers"]).get(b"authorization", b"")
        if not hmac.compare_digest(given, expected):
            raise errors.unauthorized()
