"""The gateway on its own, before any model is loaded (loading is never started here)."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from llmserver.app import Gateway
from llmserver.settings import Settings


def gateway(**settings: object) -> TestClient:
    return TestClient(Gateway(Settings(models_dir=Path("unused"), **settings)))


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
