"""llmserver's own Prometheus metrics: requests by endpoint, error answers by kind, the
engine's state and restarts. `/metrics` serves them followed by the engine's own while it
runs (llama-server's `llamacpp:*`: slots busy, requests deferred, tokens and their rates).

Counted once per request, never per token; the engine's state is read at each scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Paths counted under their own name; anything else is "other", so that a scanner's guesses
# cannot grow the label set.
ENDPOINTS = frozenset(("/health", "/metrics", "/v1/models", "/v1/chat/completions",
                       "/v1/completions", "/v1/embeddings", "/tokenize/count"))
# Both parts are Prometheus' text format 0.0.4, which is what llama-server writes.
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class EngineState:
    ready: bool  # /health says ok
    generating: int  # generation requests in flight
    restarts: int  # times the engine died while serving and was started again


class Metrics:
    def __init__(self, state: Callable[[], EngineState]):
        self.registry = CollectorRegistry()
        self.requests = Counter("llmserver_requests", "HTTP requests, by endpoint.",
                                ["endpoint"], registry=self.registry)
        self.errors = Counter("llmserver_errors", "Error answers, by kind: the OpenAI-style "
                              "error code (model_loading, engine_crashed, "
                              "context_length_exceeded, ...), else the HTTP status.",
                              ["kind"], registry=self.registry)
        self.registry.register(_Engine(state))

    def request(self, path: str) -> None:
        self.requests.labels(endpoint=path if path in ENDPOINTS else "other").inc()

    def error(self, kind: str) -> None:
        self.errors.labels(kind=kind).inc()

    def render(self) -> str:
        return generate_latest(self.registry).decode()


class _Engine(Collector):
    def __init__(self, state: Callable[[], EngineState]):
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state()
        yield GaugeMetricFamily("llmserver_ready", "1 when /health says ok: the model is "
                                "loaded and the engine serving.", value=int(state.ready))
        yield GaugeMetricFamily("llmserver_generating", "Generation requests in flight.",
                                value=state.generating)
        yield CounterMetricFamily("llmserver_engine_restarts", "Times the inference engine "
                                  "died while serving and was started again.",
                                  value=state.restarts)
