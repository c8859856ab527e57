"""The hold (`LLM_HOLD_MS`): requests that arrive together share llama-server's first batch.

How llama-server admits requests (tools/server: `server_queue::start_loop`,
`server_context::update_slots`): one loop takes every task queued since its last batch,
gives each a free slot, then evaluates one batch holding every slot's next prompt tokens (up
to `--batch-size`) and one token of each slot already generating; a task that arrives while
a batch runs waits for that batch to end. Of several requests that reach an idle
llama-server a few milliseconds apart, the first is evaluated alone and the others in the
batches after it, so the last first token waits for more batches than if all had started in
one (with gemma-3's sliding-window attention a prompt takes two batches anyway, the second
for its last 4 tokens, after a context checkpoint; and a batch that ends prompts computes
262,144 logits for each of them: on 2 cores, the batch that ended 3 short prompts took
80-90 ms, the one before it 30-90 ms).

So a request that would start llama-server's work on its own (nothing in flight) is held
for up to `LLM_HOLD_MS`, and those that arrive meanwhile join it; all are released at once,
in arrival order, when the hold ends or as soon as they fill the free slots. A request that
arrives while others are in flight is not held: it joins llama-server's next batch with
whatever else arrives before then, and a hold would only delay it.

Released at once is not yet together: llama-server's loop starts a batch as soon as it has
one task, and requests sent a fraction of a millisecond apart reach it one by one. So a held
request is already sent, all but the last byte of its body (`Upstream.proxy`); llama-server
cannot start on it before that byte, and the release sends the last byte of every held
request in one go. A held request whose client goes away is cancelled with its connection
and never reaches llama-server's queue; it leaves the group at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

log = logging.getLogger("llmserver")


class Hold:
    def __init__(self, seconds: float, slots: int):
        self.seconds = seconds
        self.slots = slots
        # Requests released to llama-server and not finished.
        self.running = 0
        # The requests held now, in arrival order; None while none are.
        self._group: list[asyncio.Future[None]] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # When each request of the group arrived (loop time), for the debug log.
        self._arrivals: list[float] = []

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[asyncio.Future[None] | None]:
        """One request's turn at llama-server, until the block ends. Yields None if it may
        start at once, else a future that is done when the hold releases it."""
        released = self._arrive()
        try:
            yield released
        finally:
            if released is None or (released.done() and not released.cancelled()):
                self.running -= 1
            else:
                self._leave(released)

    def _arrive(self) -> asyncio.Future[None] | None:
        if self.seconds <= 0 or self.running >= self.slots or (
                self._group is None and self.running > 0):
            self.running += 1
            return None
        loop = asyncio.get_running_loop()
        if self._group is None:
            self._group = []
            self._arrivals = []
            self._timer = loop.call_later(self.seconds, self._release, self._group)
        group = self._group
        released: asyncio.Future[None] = loop.create_future()
        group.append(released)
        self._arrivals.append(loop.time())
        if len(group) >= self.slots - self.running:
            self._release(group)
        return released

    def _release(self, group: list[asyncio.Future[None]]) -> None:
        if group is not self._group:
            return  # released already
        self._end_group()
        for released in group:
            if not released.done():  # else cancelled with its request, about to leave
                released.set_result(None)
                self.running += 1
        if log.isEnabledFor(logging.DEBUG):
            now = asyncio.get_running_loop().time()
            log.debug("hold: released %d request(s) after %.1f ms (arrived at %s ms)",
                      len(group), (now - self._arrivals[0]) * 1000,
                      ", ".join(f"+{(t - self._arrivals[0]) * 1000:.1f}"
                                for t in self._arrivals))

    def _leave(self, released: asyncio.Future[None]) -> None:
        """A held request that ends before its release (its client went away)."""
        released.cancel()
        group = self._group
        if group is not None and released in group:
            group.remove(released)
            if not group:
                self._end_group()

    def _end_group(self) -> None:
        self._group = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
