"""Slash commands, with a stand-in for the LLM server (the boundary this unit is about)."""

from __future__ import annotations

from typing import Any

from chatbot.accounts.viewer import Viewer
from chatbot.chat import commands
from chatbot.errors import LLMError
from chatbot.settings import ChatSettings, Settings
from rag import RagError

ANONYMOUS = Viewer("browser-1")

SETTINGS = Settings(llm_base_url="http://engine.test/v1", temperature=0.5)


class FakeLLM:
    def __init__(self, models: list[str] | None = None):
        self._models = models

    def models(self) -> list[str]:
        if self._models is None:
            raise LLMError("The language model server at http://engine.test/v1 is not reachable.")
        return self._models

    def descriptions(self) -> dict[str, str]:
        return {m: "" for m in self.models()}

    def default_model(self) -> str:
        return self.models()[0]

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "model": "m1"} if self._models else {}

    def n_ctx(self) -> int:
        return 2048


def run(line: str, llm: FakeLLM | None = None, chat: ChatSettings | None = None
        ) -> commands.Reply:
    context = commands.Context(SETTINGS, llm or FakeLLM(["m1", "m2"]),  # type: ignore[arg-type]
                               chat or ChatSettings.defaults(SETTINGS), ANONYMOUS)
    return commands.run(line, context)


def test_help_lists_every_command() -> None:
    text = run("/help").text
    for name in ("/help", "/reset", "/version", "/model", "/set", "/rag"):
        assert name in text


def test_reset_asks_for_a_new_conversation() -> None:
    assert run("/reset").reset


def test_version_names_the_model_and_context() -> None:
    text = run("/version").text
    assert "m1" in text and "2048" in text and SETTINGS.llm_base_url in text


def test_version_shows_the_servers_address_only_to_admins() -> None:
    for viewer, shown in ((Viewer("user:1", "bob"), False),
                          (Viewer("user:2", "alice", admin=True), True)):
        context = commands.Context(SETTINGS, FakeLLM(["m1"]),  # type: ignore[arg-type]
                                   ChatSettings.defaults(SETTINGS), viewer)
        text = commands.run("/version", context).text
        assert "m1" in text and (SETTINGS.llm_base_url in text) == shown


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


class FakeGrounding:
    """The collections a store would list; None: the store is unreachable."""

    def __init__(self, names: list[str] | None):
        self.names = names

    def collections(self, _: Viewer) -> list[dict[str, Any]]:
        if self.names is None:
            raise RagError("cannot reach Chroma at http://chroma.test")
        return [{"name": n, "documents": 1, "chunks": 3} for n in self.names]

    def warm_up(self) -> None:
        pass


def rag(line: str, names: list[str] | None = ("docs",),  # type: ignore[assignment]
        chat: ChatSettings | None = None) -> commands.Reply:
    context = commands.Context(SETTINGS, FakeLLM(["m1"]),  # type: ignore[arg-type]
                               chat or ChatSettings.defaults(SETTINGS), ANONYMOUS,
                               FakeGrounding(list(names) if names is not None else None))  # type: ignore[arg-type]
    return commands.run(line, context)


def test_rag_on_off_and_status() -> None:
    on = rag("/rag on docs 3").settings
    assert on is not None and (on.rag, on.rag_collection, on.rag_k) == (True, "docs", 3)
    assert "RAG is on, collection `docs`, 3 passages" in rag("/rag", chat=on).text
    off = rag("/rag off", chat=on).settings
    assert off is not None and not off.rag and off.rag_collection == "docs"
    assert "No collection `nope`. Collections: `docs`" in rag("/rag on nope").text
    assert "1 to 20" in rag("/rag on docs 99").text
    # Chroma down: turned on all the same (it may be back by the next question), with a warning.
    down = rag("/rag on docs", names=None)
    assert down.settings is not None and down.settings.rag and "Could not check" in down.text


def test_rag_list_and_one_off_questions() -> None:
    assert "| `docs` | 1 | 3 |" in rag("/rag list").text
    assert "Could not list" in rag("/rag list", names=None).text
    for line, question in (("/rag what is in my notes?", "what is in my notes?"),
                           ("/rag on the beach", "on the beach")):
        reply = rag(line)
        assert reply.ask == question and reply.settings is None
        assert reply.once is not None and reply.once.collection == "default"
    assert "not available" in run("/rag what is in my notes?").text


def test_summarize_needs_one_url() -> None:
    reply = run("/summarize https://example.org/a")
    assert reply.ask == "Summarize https://example.org/a"
    assert reply.once is not None and reply.once.url == "https://example.org/a"
    assert run("/summarize some words").ask is None


def test_unknown_command() -> None:
    reply = run("/frobnicate")
    assert "Unknown command" in reply.text and not reply.reset and reply.settings is None
