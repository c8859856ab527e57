"""Prometheus metrics served at /metrics. One registry per app, so tests can build many apps.

Each event is counted once, where it happens; `chatbot_errors_total{kind}` is not counted
anywhere but read from the failure counts of the others at each scrape, so that one family
says how often anything failed. Nothing is observed per token: each answer once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # CPU, memory, open files: per-token cost shows up in process_cpu_seconds_total.
        ProcessCollector(registry=r)
        self.connections = Gauge("chatbot_connections", "Open Socket.IO connections.",
                                 registry=r)
        self.refused_connections = Counter(
            "chatbot_refused_connections",
            "Socket.IO connections refused: MAX_SOCKETS_PER_ADDRESS already open.", registry=r)
        self.handshake_timeouts = Counter(
            "chatbot_handshake_timeouts",
            "Engine.IO connections closed without a Socket.IO handshake in time.", registry=r)
        self.messages = Counter("chatbot_messages", "Chat messages received.", registry=r)
        self.commands = Counter("chatbot_commands", "Slash commands run.", ["command"],
                                registry=r)
        self.answers = Counter("chatbot_answers", "Answers finished, by outcome.",
                               ["outcome"], registry=r)
        self.tokens = Counter("chatbot_completion_tokens", "Answer tokens streamed.",
                              registry=r)
        self.generating = Gauge("chatbot_generating", "Answers being generated upstream.",
                                registry=r)
        self.queued = Gauge("chatbot_queued", "Answers waiting for an upstream slot.",
                            registry=r)
        self.first_token = Histogram("chatbot_time_to_first_token_seconds",
                                     "From the user's message to the first answer token.",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.tokens_per_s = Histogram("chatbot_tokens_per_second", "Answer streaming speed.",
                                      buckets=(1, 2, 5, 10, 20, 50, 100, 200), registry=r)
        self.dropped_history = Counter("chatbot_history_truncations",
                                       "Times older turns were dropped to fit the context.",
                                       registry=r)
        self.retrieval = Histogram("chatbot_retrieval_seconds",
                                   "Document retrieval for one grounded answer.",
                                   buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
                                   registry=r)
        self.retrieval_failures = Counter("chatbot_retrieval_failures",
                                          "Grounded answers that went ahead without "
                                          "documents because retrieval failed.", registry=r)
        self.ingests = Counter("chatbot_ingests", "Document ingestions from the page, by "
                               "outcome.", ["outcome"], registry=r)
        self.ingested_documents = Counter(
            "chatbot_ingested_documents", "Documents of page ingestions, by outcome: added, "
            "replaced, unchanged, failed, skipped.", ["outcome"], registry=r)
        self.ingested_chunks = Counter("chatbot_ingested_chunks",
                                       "Chunks written by page ingestions.", registry=r)
        self.bad_payloads = Counter("chatbot_rejected_payloads",
                                    "Socket.IO payloads rejected as malformed.", registry=r)
        self.http_requests = Counter("chatbot_http_requests",
                                     "HTTP requests answered (not Socket.IO), by route and "
                                     "status.", ["endpoint", "status"], registry=r)
        self.sign_ins = Counter("chatbot_sign_ins", "Sign-in attempts, by outcome (ok, "
                                "refused, throttled).", ["outcome"], registry=r)
        self.limited = Counter("chatbot_limited", "Requests refused by a per-user limit, by "
                               "limit (messages, uploads, storage).", ["limit"], registry=r)
        r.register(_Errors({
            "answer": lambda: _count(self.answers, outcome="error"),
            "retrieval": lambda: _count(self.retrieval_failures),
            "ingest": lambda: _count(self.ingests, outcome="failed"),
            "document": lambda: _count(self.ingested_documents, outcome="failed"),
            "bad_payload": lambda: _count(self.bad_payloads),
            "http": lambda: _count(self.http_requests, status=lambda s: s.startswith("5")),
        }))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _count(counter: Counter, **where: str | Callable[[str], bool]) -> float:
    """The counter's total over the label values `where` matches (a value or a test)."""
    def matches(labels: dict[str, str]) -> bool:
        return all(want(labels[k]) if callable(want) else labels[k] == want
                   for k, want in where.items())

    return sum(sample.value for family in counter.collect() for sample in family.samples
               if sample.name.endswith("_total") and matches(sample.labels))


class _Errors(Collector):
    """`chatbot_errors_total{kind}`: answers that ended in an error, retrievals that failed
    (the answer went ahead without documents), ingestions that added nothing, documents
    that could not be read, malformed Socket.IO payloads, HTTP 5xx."""

    def __init__(self, kinds: dict[str, Callable[[], float]]):
        self.kinds = kinds

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("chatbot_errors", "Failures by kind (the sum of the "
                                     "failure counts of the other metrics).", labels=["kind"])
        for kind, count in self.kinds.items():
            family.add_metric([kind], count())
        yield family
