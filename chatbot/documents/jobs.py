"""The ingestion jobs' queue: a few workers shared fairly between users, each job
cancellable.

One worker for the whole instance let one user's slow job (a site dripping bytes, a large
crawl) hold everyone else's. Here `workers` jobs run at once, and a waiting job is picked
as the answers' slots are (chatbot/chat/slots.py): from the user running the fewest jobs, among
those from the one served longest ago, then the oldest. A user may run at most
`workers - 1` jobs at once (one, with two workers), so another user's job always finds a
worker within one job's time, and never two jobs write into one collection at once (rag
writes a collection from one writer at a time).

Cancelling a queued job drops it; a running one is told through its `cancel` event, which
rag's ingestion checks between fetches, while waiting for bytes (at least every second) and
between embedding batches.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("chatbot.documents.jobs")


@dataclass(eq=False)
class Job:
    id: str
    user: str  # whose turn it counts against (Viewer.key)
    collection: str  # written by at most one running job at a time
    run: Callable[[Job], None]  # the work; it reads `cancel`
    dropped: Callable[[Job], None]  # called instead of `run` when cancelled while queued
    cancel: threading.Event = field(default_factory=threading.Event)
    order: int = field(default_factory=itertools.count().__next__)
    running: bool = False


class JobQueue:
    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self.per_user = max(1, self.workers - 1)
        self._cond = threading.Condition()
        self._waiting: list[Job] = []
        self._running: dict[str, Job] = {}
        self._held: Counter[str] = Counter()
        self._writing: Counter[str] = Counter()
        self._served: dict[str, int] = {}
        self._grants = itertools.count(1)
        self._started = False

    def submit(self, job: Job) -> None:
        with self._cond:
            if not self._started:
                # Started with the first job, not with the app: threads do not survive a
                # fork (a server preloading the app), and an app that ingests nothing
                # needs none.
                self._started = True
                for n in range(self.workers):
                    threading.Thread(target=self._work, name=f"ingest-{n}",
                                     daemon=True).start()
            self._waiting.append(job)
            self._cond.notify_all()

    def find(self, job_id: str) -> Job | None:
        with self._cond:
            return self._running.get(job_id) or next(
                (j for j in self._waiting if j.id == job_id), None)

    def jobs(self) -> list[Job]:
        """Running first, then waiting in the order they would start."""
        with self._cond:
            return [*self._running.values(), *self._turns()]

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False if there is no such job (any more)."""
        with self._cond:
            job = self._running.get(job_id)
            if job is not None:
                job.cancel.set()
                return True
            queued = next((j for j in self._waiting if j.id == job_id), None)
            if queued is None:
                return False
            self._waiting.remove(queued)
            queued.cancel.set()
        queued.dropped(queued)
        return True

    def _turns(self) -> list[Job]:
        return sorted(self._waiting, key=lambda j: (self._held[j.user],
                                                    self._served.get(j.user, 0), j.order))

    def _next(self) -> Job | None:
        for job in self._turns():
            if self._held[job.user] < self.per_user and not self._writing[job.collection]:
                return job
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                while (job := self._next()) is None:
                    self._cond.wait()
                self._waiting.remove(job)
                job.running = True
                self._running[job.id] = job
                self._held[job.user] += 1
                self._writing[job.collection] += 1
                self._served[job.user] = next(self._grants)
            try:
                job.run(job)
            except Exception:
                log.exception("ingestion job %s failed", job.id)
            finally:
                with self._cond:
                    del self._running[job.id]
                    self._held[job.user] -= 1
                    self._writing[job.collection] -= 1
                    self._cond.notify_all()
