"""`LLM_ENGINE=llama-server` (default): llama.cpp's own server, supervised.

llama-server decodes every active request together in one batch (continuous batching over
`LLM_PARALLEL` slots), keeps each slot's prompt in its KV cache for the next turn of the same
conversation, and queues requests beyond the slots in arrival order. llmserver starts it on a
private loopback port with a key of its own (in its environment, not on its command line,
which every local user can read), keeps its interface in front (aliases, API key,
OpenAI-style errors, `/health`), and passes each response through byte for byte
(`upstream.py`); `command.py` says how it is started.

If llama-server dies, the requests it was serving end with an error, the reason is logged in
words (which signal, what it usually means, its last log lines) and it is started again; if it
cannot get through loading and a one-token warm-up three times in a row, llmserver stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
from starlette.types import Receive, Scope, Send

from llmserver import errors
from llmserver.crash import describe_exit
from llmserver.engines.base import EngineFailed
from llmserver.engines.command import (
    TemplateFiles,
    die_with_parent,
    free_port,
    server_command,
    server_environment,
)
from llmserver.engines.hold import Hold
from llmserver.engines.server_log import ServerLog
from llmserver.engines.upstream import Upstream
from llmserver.llama_build import server_binary
from llmserver.models.chat_format import BASE_MODEL_FORMAT, STOP
from llmserver.models.discovery import ModelEntry
from llmserver.settings import Settings

log = logging.getLogger("llmserver")

MAX_START_ATTEMPTS = 3
# How long a request waits for an engine that is restarting before it gets a 503.
READY_WAIT_S = 60.0


class LlamaServerEngine:
    name = "llama-server"

    def __init__(self, settings: Settings, on_fatal: Callable[[str], None]):
        self.settings = settings
        self.slots = settings.parallel
        self.problem = "loading"
        self.restarts = 0
        self._on_fatal = on_fatal
        self._binary = settings.server_bin or server_binary()
        self._key = secrets.token_urlsafe(24)
        self._upstream = Upstream(self._key, lambda: self.problem)
        self._hold = Hold(settings.hold_ms / 1000, settings.parallel)
        self._entries: dict[str, ModelEntry] = {}
        self._current: ModelEntry | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._expected_exit = False
        self._ready = asyncio.Event()
        self._switch = asyncio.Lock()
        self._inflight = 0
        self._idle = asyncio.Condition()
        self._log = ServerLog(settings.verbose)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._templates = TemplateFiles()

    # Life cycle ---------------------------------------------------------------------

    async def start(self, entries: list[ModelEntry]) -> None:
        if not Path(self._binary).is_file():
            raise EngineFailed(
                f"{self._binary} does not exist: `make install` builds it "
                "(or set LLAMA_SERVER_BIN, or LLM_ENGINE=llama-cpp-python)."
            )
        self._entries = {e.alias: e for e in entries}
        for entry in entries:
            self._templates.add(entry)
        await self._launch(entries[0])

    def offer(self, entries: list[ModelEntry]) -> bool:
        # llama-server loads one model per run, so a new one is started like any other
        # switch, on its first request.
        for entry in entries:
            self._templates.add(entry)
            self._entries[entry.alias] = entry
        return True

    async def _launch(self, entry: ModelEntry) -> None:
        """Start llama-server with `entry`, wait for its health and a one-token warm-up."""
        self._ready.clear()
        self._current = entry
        port = free_port()
        self._upstream.base = f"http://127.0.0.1:{port}"
        self._log.clear()
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *server_command(self._binary, self.settings, entry, port,
                            self._templates.of(entry)),
            env=server_environment(self._key),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=die_with_parent,
            # Out of the terminal's process group: a Ctrl-C is llmserver's to handle (it
            # stops the engine itself); the engine must not take it for a crash first.
            start_new_session=True,
        )
        self._proc = proc
        self._expected_exit = False
        self._spawn(self._log.read(proc))
        while not await self._upstream.healthy():
            if proc.returncode is not None:
                raise EngineFailed(self._log.exit_report(proc, f"while loading {entry.alias}"))
            await asyncio.sleep(0.1)
        try:
            # A one-token chat answer per slot, all at once: besides proving that the engine
            # can generate, this leaves the chat format's fixed start (for the base model,
            # its preamble and example) in every slot's cache, so users who arrive together
            # only wait for their own words (cold, 4 at once waited 1 s, not 0.2 s).
            failed = await self._upstream.warm(self.slots)
        except aiohttp.ClientError:
            await asyncio.sleep(0.5)  # let the exit status arrive
            raise EngineFailed(
                self._log.exit_report(proc, "on its first generation (the warm-up)")
            ) from None
        if failed is not None:
            raise EngineFailed(f"llama-server's warm-up generation failed: {failed[:500]}")
        self.problem = ""
        self._ready.set()
        self._spawn(self._watch(proc))
        log.info("llama-server ready in %.1f s: %s, %d slots x %d tokens (pid %d)",
                 time.monotonic() - started, entry.alias, self.slots,
                 entry.n_ctx(self.settings.n_ctx),
                 proc.pid)

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        await proc.wait()
        if self._expected_exit or proc is not self._proc:
            return
        self.problem = f"the inference engine {describe_exit(proc.returncode or 0)}; restarting"
        self._ready.clear()
        await asyncio.sleep(0.2)  # its last log lines
        log.error("%s\nRestarting it.", self._log.exit_report(proc, "while serving"))
        self.restarts += 1
        await self._recover()

    async def _recover(self) -> None:
        assert self._current is not None
        for attempt in range(1, MAX_START_ATTEMPTS + 1):
            try:
                await self._launch(self._current)
                log.info("llama-server is back (attempt %d).", attempt)
                return
            except EngineFailed as exc:
                log.error("restart %d of %d failed: %s", attempt, MAX_START_ATTEMPTS, exc)
                self.problem = f"the inference engine failed to restart: {exc}"
                await asyncio.sleep(attempt)
        self._on_fatal(self.problem)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        self._expected_exit = True
        await self._terminate()
        for task in list(self._tasks):
            task.cancel()
        await self._upstream.close()
        self._templates.cleanup()

    def kill(self) -> None:
        self._expected_exit = True
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
        # The connections die with the process; nothing is left for a clean close to do.
        self._upstream.detach()

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    # Requests -----------------------------------------------------------------------

    async def _use(self, alias: str) -> None:
        """Wait until llama-server serves `alias`, swapping models when another is loaded
        (after the requests in flight for the current one have finished)."""
        if self._current is None or alias != self._current.alias:
            async with self._switch:
                if self._current is None or alias != self._current.alias:
                    async with self._idle:
                        await self._idle.wait_for(lambda: self._inflight == 0)
                    log.info("switching llama-server to %s", alias)
                    self._expected_exit = True
                    await self._terminate()
                    try:
                        await self._launch(self._entries[alias])
                    except EngineFailed as exc:
                        self.problem = str(exc)
                        raise
        with anyio.fail_after(READY_WAIT_S):
            await self._ready.wait()

    async def metrics(self) -> str | None:
        """llama-server's Prometheus metrics (slots busy, requests waiting, tokens)."""
        if not self._ready.is_set():
            return None
        return await self._upstream.metrics()

    async def generate(
        self, path: str, request: dict[str, Any], body: bytes, alias: str, scope: Scope,
        receive: Receive, send: Send,
    ) -> None:
        try:
            await self._use(alias)
        except (TimeoutError, EngineFailed):
            raise errors.engine_unavailable(self.problem) from None
        entry = self._entries[alias]
        if entry.chat_format == BASE_MODEL_FORMAT and path == "/v1/chat/completions":
            body = _with_stops(request)
        self._inflight += 1
        try:
            async with self._hold.turn() as released:
                await self._upstream.proxy(path, body, receive, send, released)
        finally:
            self._inflight -= 1
            async with self._idle:
                self._idle.notify_all()


def _with_stops(request: dict[str, Any]) -> bytes:
    """The body again, with the transcript format's turn boundaries added to the request's
    own stop sequences."""
    stop = request.get("stop") or []
    return json.dumps({**request, "stop": ([stop] if isinstance(stop, str) else list(stop))
                       + STOP}).encode()
