"""The gateway on its own, without a model (loading is never started here): its answers
while loading, and its error answers in front of a stand-in engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from llmserver import errors
from llmserver.app import MAX_BODY_BYTES, Gateway
from llmserver.errors import ApiError
from llmserver.settings import Settings

# Addressed as a client on this machine addresses it: TestClient's own `testserver` is no
# name llmserver answers to (LLM_ALLOWED_HOSTS).
BASE_URL = "http://127.0.0.1:8000"


def gateway(**settings: object) -> TestClient:
    return TestClient(Gateway(Settings(models_dir=Path("unused"), **settings)),
                      base_url=BASE_URL)


def test_health_is_503_while_the_model_loads() -> None:
    response = gateway().get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "loading"}


def test_api_answers_503_with_retry_after_while_loading() -> None:
    response = gateway().post("/v1/chat/completions", json={})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "model_loading"


def test_settings_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("LLMSERVER_PORT", "8123")
    monkeypatch.setenv("LLM_N_CTX", "1024")
    monkeypatch.setenv("LLM_API_KEY", "k")
    settings = Settings()
    assert (settings.port, settings.n_ctx, settings.api_key) == (8123, 1024, "k")


def test_an_empty_api_key_means_no_key(monkeypatch) -> None:
    monkeypatch.setenv("LLM_API_KEY", "")
    assert Settings().api_key is None


ALIAS = "the-model"


class StandInEngine:
    """The engine boundary: answers what the gateway passes on with the given failure,
    raised before its response starts or, after one streamed event, inside it."""

    name = "stand-in"
    slots = 1
    problem = ""
    restarts = 0

    def __init__(self, failure: ApiError | None = None, metrics: str | None = None):
        self.failure = failure
        self._metrics = metrics

    async def metrics(self) -> str | None:
        return self._metrics

    async def generate(self, path: str, request: dict[str, Any], body: bytes, alias: str,
                       scope: Scope, receive: Receive, send: Send) -> None:
        assert self.failure is not None
        if self.failure.started:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            await send({"type": "http.response.body", "body": b"data: {}\n\n",
                        "more_body": True})
        raise self.failure


def ready_gateway(engine: StandInEngine | None = None, **settings: object) -> TestClient:
    app = Gateway(Settings(models_dir=Path("unused"), **settings))
    app.engine = engine or StandInEngine()  # type: ignore[assignment]
    app.aliases = [ALIAS]
    app.ready = True
    return TestClient(app, base_url=BASE_URL)


CHAT = "/v1/chat/completions"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "kind", "code", "param"),
    [
        ("GET", "/nope", None, 404, "invalid_request_error", "not_found", None),
        ("GET", CHAT, None, 404, "invalid_request_error", "not_found", None),
        ("POST", CHAT, b'{"model": ', 400, "invalid_request_error", "invalid_json", None),
        ("POST", CHAT, b"[1]", 400, "invalid_request_error", "invalid_request", None),
        ("POST", CHAT, b"{}", 400, "invalid_request_error", "invalid_value", "messages"),
        ("POST", CHAT, b'{"messages": [{}], "model": "other"}', 404, "invalid_request_error",
         "model_not_found", "model"),
        ("POST", "/v1/completions", b'{"prompt": "x", "max_tokens": 0}', 400,
         "invalid_request_error", "invalid_value", "max_tokens"),
        ("POST", CHAT, b"x" * (MAX_BODY_BYTES + 1), 413, "invalid_request_error", None, None),
        ("POST", "/tokenize/count", b'{"text": "x"}', 400, "invalid_request_error", None,
         "input"),
        ("POST", "/tokenize/count", b'{"input": "x", "model": "other"}', 404,
         "invalid_request_error", "model_not_found", "model"),
    ],
)
def test_error_answers_are_openai_shaped(
    method: str, path: str, body: bytes | None, status: int, kind: str, code: str | None,
    param: str | None,
) -> None:
    response = ready_gateway().request(method, path, content=body,
                                       headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (kind, code, param)
    assert error["message"]


def test_a_missing_key_is_401_with_a_bearer_challenge() -> None:
    response = ready_gateway(api_key="k").post(CHAT, json={"messages": [{}]})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_an_engine_error_before_the_response_is_a_json_answer() -> None:
    client = ready_gateway(StandInEngine(errors.engine_unavailable("restarting")))
    response = client.post(CHAT, json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == {
        "message": "The model server is not ready: restarting", "type": "server_error",
        "param": None, "code": "engine_unavailable",
    }


def test_an_engine_error_inside_a_stream_is_its_last_event() -> None:
    failure = errors.engine_crashed("", started=True)
    client = ready_gateway(StandInEngine(failure))
    response = client.post(CHAT, json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    first, last = response.text.strip().split("\n\n")
    assert first == "data: {}"
    assert json.loads(last.removeprefix("data: "))["error"] == {
        "message": "The model server's engine stopped while answering (it is being restarted).",
        "type": "server_error", "param": None, "code": "engine_crashed",
    }


def scrape(client: TestClient, **headers: str) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def test_metrics_answer_while_the_model_loads() -> None:
    client = gateway()
    client.post(CHAT, json={})
    metrics = scrape(client)
    assert metrics["llmserver_ready", frozenset()] == 0
    assert metrics["llmserver_errors_total", frozenset({("kind", "model_loading")})] == 1
    assert metrics["llmserver_requests_total",
                   frozenset({("endpoint", "/v1/chat/completions")})] == 1


def test_metrics_add_the_engines_own_and_count_errors_by_kind() -> None:
    engine = StandInEngine(metrics="# TYPE llamacpp:requests_processing gauge\n"
                           "llamacpp:requests_processing 0\n")
    client = ready_gateway(engine)
    client.post(CHAT, content=b"{", headers={"content-type": "application/json"})
    client.get("/nope")
    metrics = scrape(client)
    assert metrics["llamacpp:requests_processing", frozenset()] == 0
    assert metrics["llmserver_ready", frozenset()] == 1
    assert metrics["llmserver_engine_restarts_total", frozenset()] == 0
    assert metrics["llmserver_errors_total", frozenset({("kind", "invalid_json")})] == 1
    assert metrics["llmserver_errors_total", frozenset({("kind", "not_found")})] == 1
    assert metrics["llmserver_requests_total", frozenset({("endpoint", "other")})] == 1


def test_metrics_need_the_key_when_one_is_set() -> None:
    client = ready_gateway(api_key="k")
    assert client.get("/metrics").status_code == 401
    assert client.get("/health").status_code == 200
    assert scrape(client, authorization="Bearer k")["llmserver_ready", frozenset()] == 1
