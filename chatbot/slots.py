"""First come, first served access to the LLM server's generation slots.

The server generates for as many requests at once as it has slots; a request sent while they
are all busy just waits upstream with no way to tell the user why. Queueing here instead lets
a waiting user see their position and cancel without ever touching the server.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from chatbot.metrics import Metrics


class SlotQueue:
    def __init__(self, slots: int, metrics: Metrics):
        self._cond = threading.Condition()
        self._total = slots
        self._free = slots
        self._waiting: deque[object] = deque()
        self._metrics = metrics

    def acquire(self, cancelled: threading.Event, on_position: Callable[[int], None]) -> bool:
        """Wait for a slot; False if cancelled first. `on_position(n)`: n answers ahead."""
        ticket = object()
        shown = 0
        with self._cond:
            self._waiting.append(ticket)
            self._metrics.queued.set(len(self._waiting))
            try:
                while not cancelled.is_set():
                    position = self._waiting.index(ticket)
                    if position == 0 and self._free > 0:
                        self._free -= 1
                        return True
                    ahead = position + 1
                    if ahead != shown:
                        on_position(ahead)
                        shown = ahead
                    self._cond.wait(timeout=1.0)
                return False
            finally:
                self._waiting.remove(ticket)
                self._metrics.queued.set(len(self._waiting))
                self._cond.notify_all()

    def resize(self, slots: int) -> None:
        """Follow the server's slot count (it may be restarted with another)."""
        with self._cond:
            if slots != self._total:
                self._free += slots - self._total
                self._total = slots
                self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
