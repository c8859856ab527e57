"""HTTP to the llama-server that llmserver supervises: its health, the warm-up, its metrics,
and each generation passed through byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import aiohttp
import anyio
from starlette.types import Receive, Send

from llmserver import errors
from llmserver.errors import ApiError

SHORT = aiohttp.ClientTimeout(total=5)


class Upstream:
    """`problem()`: what the engine's supervisor knows is wrong, for the answer to a request
    whose llama-server went away mid-answer."""

    def __init__(self, key: str, problem: Callable[[], str]):
        self.base = ""
        self._problem = problem
        # aiohttp rather than httpx: its C HTTP parser costs a fraction of h11's per streamed
        # chunk, and every chunk is one token of some user's answer.
        self._client = aiohttp.ClientSession(
            headers={"authorization": f"Bearer {key}"},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            connector=aiohttp.TCPConnector(limit=0),
            auto_decompress=False,
        )

    async def healthy(self) -> bool:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._client.get(f"{self.base}/health", timeout=SHORT) as health:
                return health.status == 200
        return False

    async def warm(self, slots: int) -> str | None:
        """A one-token chat answer per slot, all at once: the first failure's text, if any.
        Raises aiohttp.ClientError if llama-server goes away meanwhile."""

        async def one() -> tuple[int, str]:
            request = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1}
            async with self._client.post(f"{self.base}/v1/chat/completions",
                                         json=request) as response:
                return response.status, await response.text()

        answers = await asyncio.gather(*(one() for _ in range(slots)))
        failed = [text for status, text in answers if status != 200]
        return failed[0] if failed else None

    async def metrics(self) -> str | None:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._client.get(f"{self.base}/metrics", timeout=SHORT) as response:
                if response.status == 200:
                    return await response.text()
        return None

    async def proxy(self, path: str, body: bytes, receive: Receive, send: Send,
                    released: asyncio.Future[None] | None = None) -> None:
        """llama-server's answer to `body`, streamed to the client as it comes; its error
        answers, and its death mid-answer, raised as ApiError. `released`: the request is
        held (hold.py); all of it but the body's last byte is sent at once, and
        that byte when `released` is done, so that llama-server takes it up at that moment
        and no sooner."""
        data: bytes | AsyncIterator[bytes] = body
        if released is not None:
            data = _held(body, released)
        failure: ApiError | None = None
        started = False
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                # A client that goes away cancels the upstream request: llama-server sees
                # the closed connection at its next token and frees the slot.
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            try:
                async with self._client.post(
                    f"{self.base}{path}", data=data,
                    headers={"content-type": "application/json",
                             "content-length": str(len(body))},
                ) as response:
                    if response.status != 200:
                        failure = errors.from_llama_server(response.status,
                                                           await response.read())
                    else:
                        await send({
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [
                                (b"content-type", response.headers.get(
                                    "content-type", "application/json").encode()),
                                (b"cache-control", b"no-cache"),
                            ],
                        })
                        started = True
                        async for chunk in response.content.iter_any():
                            await send({"type": "http.response.body", "body": chunk,
                                        "more_body": True})
                        await send({"type": "http.response.body", "body": b""})
            except aiohttp.ClientError:
                failure = errors.engine_crashed(self._problem(), started=started)
            group.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def close(self) -> None:
        await self._client.close()

    def detach(self) -> None:
        """Forget the connections without closing them (they die with llama-server)."""
        self._client.detach()


async def _held(body: bytes, released: asyncio.Future[None]) -> AsyncIterator[bytes]:
    yield body[:-1]
    await asyncio.shield(released)  # the hold's to cancel, when the request ends unreleased
    yield body[-1:]
