"""Settings come from their documented variables only: a bare PORT or HOST, which platforms
set for their own reasons, must not move a server."""

from __future__ import annotations

import pytest

from chatbot.settings import Settings as ChatbotSettings
from llmserver.settings import Settings as LlmSettings
from rag.settings import RagSettings


def test_bare_field_names_in_the_environment_are_ignored(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    for name, value in {"PORT": "1234", "HOST": "0.0.0.0", "Port": "1234",
                        "CHUNK_TOKENS": "64", "TEMPERATURE": "1.9"}.items():
        monkeypatch.setenv(name, value)
    assert LlmSettings().port == LlmSettings.model_fields["port"].default
    chatbot = ChatbotSettings()
    assert chatbot.port == ChatbotSettings.model_fields["port"].default
    assert chatbot.host == ChatbotSettings.model_fields["host"].default
    assert chatbot.temperature == ChatbotSettings.model_fields["temperature"].default
    assert RagSettings().chunk_tokens == RagSettings.model_fields["chunk_tokens"].default


def test_documented_names_and_construction_by_field_name_still_work(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMSERVER_PORT", "8123")
    monkeypatch.setenv("CHATBOT_PORT", "5123")
    assert LlmSettings().port == 8123
    assert ChatbotSettings().port == 5123
    assert ChatbotSettings(port=6000).port == 6000
