"""Prometheus metrics served at /metrics. One registry per app, so tests can build many apps."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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
        self.bad_payloads = Counter("chatbot_rejected_payloads",
                                    "Socket.IO payloads rejected as malformed.", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
