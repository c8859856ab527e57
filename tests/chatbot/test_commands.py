"""Slash commands, with a stand-in for the LLM server (the boundary this unit is about)."""

from __future__ import annotations

from typing import Any

from chatbot import commands
from chatbot.llm import LLMError
from chatbot.settings import ChatSettings, Settings

SETTINGS = Settings(llm_base_url="http://engine.test/v1", temperature=0.5)


class FakeLLM:
    def __init__(self, models: list[str] | None = None):
        self._models = models

    def models(self) -> list[str]:
        if self._models is None:
            raise LLMError("The language model server at http://engine.test/v1 is not reachable.")
        return self._models

    def default_model(self) -> str:
        return self.models()[0]

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "model": "m1"} if self._models else {}

    def n_ctx(self) -> int:
        return 2048


def run(line: str, llm: FakeLLM | None = None, chat: ChatSettings | None = None
        ) -> commands.Reply:
    context = commands.Context(SETTINGS, llm or FakeLLM(["m1", "m2"]),  # type: ignore[arg-type]
                               chat or ChatSettings.defaults(SETTINGS))
    return commands.run(line, context)


def test_help_lists_every_command() -> None:
    text = run("/help").text
    for name in ("/help", "/reset", "/version", "/model", "/set", "/rag"):
        assert name in text


def test_reset_asks_for_a_new_conversation() -> None:
    assert run("/reset").reset


def test_version_names_the_model_and_context() -> None:
    text = run("/version").text
    assert "m1" in text and "2048" in text


def test_model_lists_and_switches() -> None:
    listing = run("/model").text
    assert "`m1` (current)" in listing and "`m2`" in listing
    switched = run("/model m2")
    assert switched.settings is not None and switched.settings.model == "m2"
    missing = run("/model nope")
    assert missing.settings is None and "No model `nope`" in missing.text


def test_model_when_the_server_is_down_says_so() -> None:
    assert "not reachable" in run("/model", FakeLLM(None)).text


def test_set_changes_validates_and_resets() -> None:
    changed = run("/set temperature 0.2").settings
    assert changed is not None and changed.temperature == 0.2
    system = run("/set system Answer like a pirate.").settings
    assert system is not None and system.system_prompt == "Answer like a pirate."
    bad = run("/set temperature hot")
    assert bad.settings is None and "Could not set" in bad.text
    too_high = run("/set temperature 5")
    assert too_high.settings is None
    assert "Unknown setting" in run("/set colour blue").text
    reset = run("/set reset", chat=ChatSettings(temperature=1.5)).settings
    assert reset is not None and reset.temperature == 0.5
    assert "| temperature | 0.5 |" in run("/set").text


def test_rag_is_not_configured_yet() -> None:
    assert "not configured" in run("/rag what is in my notes?").text


def test_unknown_command() -> None:
    reply = run("/frobnicate")
    assert "Unknown command" in reply.text and not reply.reset and reply.settings is None
