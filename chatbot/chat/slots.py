"""Fair access to the LLM server's generation slots.

The server generates for as many requests at once as it has slots; a request sent while they
are all busy just waits upstream with no way to tell the user why. Queueing here instead lets
a waiting user see their position and cancel without ever touching the server.

Waiting answers are served round-robin across users (accounts, or browsers without them),
not first come first served: the next slot goes to the user holding the fewest slots, among
those to the one served longest ago, and only then to the oldest request. A user with ten
tabs asking at once therefore gets one answer in turn with everyone else, not ten ahead of
them.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from chatbot.metrics import Metrics


@dataclass(eq=False)
class _Ticket:
    user: str
    order: int = field(default_factory=itertools.count().__next__)


class SlotQueue:
    def __init__(self, slots: int, metrics: Metrics):
        self._cond = threading.Condition()
        self._total = slots
        self._free = slots
        self._waiting: list[_Ticket] = []
        self._held: Counter[str] = Counter()
        # When each user was last given a slot (a grant count, not a clock).
        self._served: dict[str, int] = {}
        self._grants = itertools.count(1)
        self._metrics = metrics

    def _turns(self) -> list[_Ticket]:
        return sorted(self._waiting, key=lambda t: (self._held[t.user],
                                                    self._served.get(t.user, 0), t.order))

    def acquire(self, user: str, cancelled: threading.Event,
                on_position: Callable[[int], None]) -> bool:
        """Wait for a slot for `user`; False if cancelled first. `on_position(n)`: n-1
        answers will be served before this one."""
        ticket = _Ticket(user)
        shown = 0
        with self._cond:
            self._waiting.append(ticket)
            self._metrics.queued.set(len(self._waiting))
            try:
                while not cancelled.is_set():
                    position = self._turns().index(ticket)
                    if position == 0 and self._free > 0:
                        self._free -= 1
                        self._held[user] += 1
                        self._served[user] = next(self._grants)
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

    def release(self, user: str) -> None:
        with self._cond:
            self._free += 1
            self._held[user] -= 1
            if self._held[user] <= 0:
                del self._held[user]
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
