"""The ingestion job queue on its own (chatbot/documents/jobs.py): waiting jobs start round-robin
between users, a user never holds every worker, one collection is written by one job at a
time, and a queued job cancelled never runs. Jobs here are functions that wait on events."""

from __future__ import annotations

import threading

from chatbot.documents.jobs import Job, JobQueue

WAIT_S = 30  # generous: a failure shows as this, not as a hang


class Recorder:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.dropped: list[str] = []
        self.release: dict[str, threading.Event] = {}
        self.changed = threading.Condition()

    def job(self, job_id: str, user: str, collection: str | None = None) -> Job:
        self.release[job_id] = threading.Event()

        def run(job: Job) -> None:
            with self.changed:
                self.started.append(job.id)
                self.changed.notify_all()
            while not self.release[job.id].wait(0.05):
                if job.cancel.is_set():
                    return

        def dropped(job: Job) -> None:
            with self.changed:
                self.dropped.append(job.id)
                self.changed.notify_all()

        return Job(job_id, user, collection or job_id, run, dropped)

    def wait_started(self, count: int) -> list[str]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.started) >= count, WAIT_S), \
                self.started
            return list(self.started)


def test_jobs_start_round_robin_and_no_user_holds_every_worker() -> None:
    jobs, seen = JobQueue(workers=2), Recorder()
    for job in ("a1", "a2", "a3"):
        jobs.submit(seen.job(job, "alice"))
    assert seen.wait_started(1) == ["a1"]
    jobs.submit(seen.job("b1", "bob"))
    jobs.submit(seen.job("c1", "carol"))
    # Alice holds one worker of two; the other goes to Bob, not to her second job.
    assert seen.wait_started(2) == ["a1", "b1"]
    seen.release["a1"].set()
    # Carol was never served: her job goes before Alice's second.
    assert seen.wait_started(3) == ["a1", "b1", "c1"]
    for job in ("b1", "c1", "a2", "a3"):
        seen.release[job].set()
    assert seen.wait_started(5)[3:] == ["a2", "a3"]


def test_one_collection_is_written_by_one_job_at_a_time() -> None:
    jobs, seen = JobQueue(workers=3), Recorder()
    jobs.submit(seen.job("a1", "alice", "shared"))
    assert seen.wait_started(1) == ["a1"]
    jobs.submit(seen.job("b1", "bob", "shared"))
    jobs.submit(seen.job("c1", "carol", "own"))
    assert seen.wait_started(2) == ["a1", "c1"]
    seen.release["a1"].set()
    assert seen.wait_started(3) == ["a1", "c1", "b1"]
    for job in ("b1", "c1"):
        seen.release[job].set()


def test_a_cancelled_job_never_runs_or_stops_running() -> None:
    jobs, seen = JobQueue(workers=2), Recorder()
    jobs.submit(seen.job("a1", "alice"))
    jobs.submit(seen.job("a2", "alice"))
    assert seen.wait_started(1) == ["a1"]
    assert jobs.cancel("a2") and seen.dropped == ["a2"]
    assert jobs.cancel("a1")  # its run sees `cancel` and returns
    assert not jobs.cancel("nope")
    jobs.submit(seen.job("a3", "alice"))
    assert seen.wait_started(2) == ["a1", "a3"]  # a1 ended: the worker is Alice's again
    seen.release["a3"].set()
