"""`chatbot chat`, the terminal chat, driven through a pseudo-terminal as a user types it: the
real process against the canned LLM server (it records every request and whether the client
hung up), real embedded Chroma for `/rag`, and one run against the real llmserver."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from chatbot.accounts.accounts import Accounts
from chatbot.cli.terminal_text import sources_text
from chatbot.db.store import Store
from harness.fake_llm import WAIT_S, FakeLLM, Reply
from harness.processes import ROOT, free_port, llmserver
from harness.uploads import rag_data_dir

PROMPT = "\r\n> "
# Upper bounds only, generous for a loaded machine: starting imports the whole chatbot
# package, and a first `/rag` question loads the embedding model.
START_S = 120.0
STEP_S = 60.0
PASSWORD = "correct horse battery"
LIGHTHOUSE = ("# Zorblax lighthouse\n\nThe Zorblax lighthouse on Quimby island is painted "
              "bright violet and stands 43 metres tall.\n")
QUESTION = "What colour is the Zorblax lighthouse on Quimby island?"


class Terminal:
    """`python -m chatbot chat` in a pseudo-terminal."""

    def __init__(self, llm_url: str, data_dir: Path, *args: str, **env: str):
        self.child = pexpect.spawn(
            sys.executable, ["-m", "chatbot", "chat", *args], cwd=str(ROOT), encoding="utf-8",
            timeout=STEP_S, dimensions=(40, 200),
            env={**os.environ, "LLM_BASE_URL": f"{llm_url}/v1", "DATA_DIR": str(data_dir),
                 **env})
        self.banner = self.wait_prompt(START_S)

    def wait_prompt(self, timeout: float = STEP_S) -> str:
        """What was printed until the prompt came back."""
        self.child.expect_exact(PROMPT, timeout=timeout)
        return self.child.before

    def run(self, line: str) -> str:
        """Type `line`; what it printed before the next prompt."""
        self.child.sendline(line)
        self.child.expect_exact(line)
        return self.wait_prompt()

    def leave(self, key: str = "ctrl-d") -> int:
        """Leave at the prompt with Ctrl-D or Ctrl-C; the exit status."""
        if key == "ctrl-d":
            self.child.sendeof()
        else:
            self.child.sendintr()
        self.child.expect(pexpect.EOF)
        assert "Traceback" not in self.child.before
        self.child.close()
        return self.child.exitstatus

    def close(self) -> None:
        self.child.close(force=True)


@pytest.fixture
def terminal(fake_llm: FakeLLM, tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(fake_llm.url, tmp_path)
    yield term
    term.close()


def roles(body: dict) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in body["messages"]]


def test_an_answer_streams_and_ctrl_c_stops_it_then_the_next_question_works(
        terminal: Terminal, fake_llm: FakeLLM) -> None:
    reply = fake_llm.reply("Tell me a story", Reply(["Once", " upon", " a", " time"],
                                                    pauses=(2,)))
    terminal.child.sendline("Tell me a story")
    # The first tokens are on the screen while the answer is still being written.
    terminal.child.expect_exact("Once upon")
    call = fake_llm.call("Tell me a story")
    assert not call.ended.is_set()
    terminal.child.sendintr()
    assert "[stopped]" in terminal.wait_prompt()
    assert call.hung_up.wait(WAIT_S), "the upstream stream was not closed"
    assert call.sent == 2
    reply.proceed()

    assert "You said: And then?" in terminal.run("And then?")
    # The stopped answer stays in the context, as it was shown.
    assert roles(fake_llm.call("And then?").body) == [
        ("user", "Tell me a story"), ("assistant", "Once upon"), ("user", "And then?")]
    assert terminal.leave() == 0


def test_a_reasoning_model_thinks_on_one_line_and_its_thoughts_stay_out_of_the_context(
        terminal: Terminal, fake_llm: FakeLLM) -> None:
    fake_llm.reply("Add two and two", Reply(["It is", " four."],
                                            reasoning=["Two", " plus two", " is four."]))
    printed = terminal.run("Add two and two")
    assert "(thinking…)" in printed and "It is four." in printed
    assert "plus two" not in printed
    terminal.run("Why?")
    assert roles(fake_llm.call("Why?").body) == [
        ("user", "Add two and two"), ("assistant", "It is four."), ("user", "Why?")]
    assert terminal.leave() == 0


def test_context_carries_over_reset_clears_it_and_ctrl_c_at_the_prompt_leaves(
        terminal: Terminal, fake_llm: FakeLLM) -> None:
    assert "You said: My name is Ada." in terminal.run("My name is Ada.")
    terminal.run("What is my name?")
    assert roles(fake_llm.call("What is my name?").body) == [
        ("user", "My name is Ada."), ("assistant", "You said: My name is Ada."),
        ("user", "What is my name?")]
    assert "Started a new conversation" in terminal.run("/reset")
    terminal.run("Who am I?")
    assert roles(fake_llm.call("Who am I?").body) == [("user", "Who am I?")]
    assert terminal.leave("ctrl-c") == 0


def test_set_and_flags_reach_the_request(fake_llm: FakeLLM, tmp_path: Path) -> None:
    term = Terminal(fake_llm.url, tmp_path, "--system", "Answer briefly.")
    try:
        assert "temperature  0.1" in term.run("/set temperature 0.1")
        assert "Unknown setting" in term.run("/set colour blue")
        term.run("/set max_tokens 2")
        shown = term.run("Hello")
        assert "You said" in shown and "[cut off at max_tokens" in shown
        body = fake_llm.call("Hello").body
        assert body["temperature"] == 0.1
        assert body["max_tokens"] == 2
        assert body["messages"][0] == {"role": "system", "content": "Answer briefly."}
        assert "fake-model (current)" in term.run("/model")
        assert "No model nonesuch" in term.run("/model nonesuch")
        assert "/rag on|off|COLLECTION" in term.run("/help")
        assert "Unknown command /frobnicate" in term.run("/frobnicate")
        assert term.leave() == 0
    finally:
        term.close()


def test_a_server_that_is_down_gives_one_readable_line(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    term = Terminal(closed, tmp_path)
    try:
        assert f"{closed}/v1 is not reachable" in term.banner
        shown = term.run("Hello?")
        assert shown.strip() == (f"error: The language model server at {closed}/v1 is not "
                                 "reachable. Check that it is running; your next message "
                                 "will retry.")
        assert "Traceback" not in shown
        term.child.sendline("/quit")
        term.child.expect(pexpect.EOF)
        term.child.close()
        assert term.child.exitstatus == 0
    finally:
        term.close()


# /rag: a real collection ---------------------------------------------------------------


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with collection `notes` (no owner: the admins') and Alice's private
    `alice-docs`, both holding the lighthouse; users alice and bob."""
    data = rag_data_dir(tmp_path_factory, "terminal-rag")
    source = data / "lighthouse.md"
    source.write_text(LIGHTHOUSE)
    for collection, owner in (("notes", []), ("alice-docs", ["--owner", "alice"])):
        subprocess.run([sys.executable, "-m", "rag", "ingest", str(source), "--collection",
                        collection, *owner], cwd=ROOT, env={**os.environ, "DATA_DIR": str(data)},
                       check=True, capture_output=True, timeout=300)
    store = Store(data / "conversations.sqlite3")
    accounts = Accounts(store, max_failures=5, max_failures_per_address=20,
                        failure_window_s=900)
    accounts.add("alice", PASSWORD)
    accounts.add("bob", PASSWORD)
    store.close()
    return data


def test_the_cited_sources_are_printed_and_the_others_on_one_line() -> None:
    sources = [{"n": 1, "title": "Options", "url": "/docs/options.html", "cited": True},
               {"n": 2, "title": "Manual", "url": "/docs/m.pdf", "page": 3, "cited": True},
               {"n": 3, "title": "FAQ", "url": "/docs/faq.html", "cited": False}]
    assert sources_text(sources) == ("[1] Options — /docs/options.html\n"
                                     "[2] Manual, page 3 — /docs/m.pdf\n"
                                     "also searched: [3] FAQ")
    # Sources stored before citations were recorded: all of them, numbered in order.
    assert sources_text([{"title": "A", "url": "/a"}, {"title": "B", "url": "/b"}]) == \
        "[1] A — /a\n[2] B — /b"


def test_rag_answers_from_a_collection_and_prints_its_sources(
        documents: Path, fake_llm: FakeLLM) -> None:
    term = Terminal(fake_llm.url, documents, RAG_TIMEOUT=str(STEP_S))
    try:
        assert "No collection nonesuch" in term.run("/rag nonesuch")
        assert "RAG is on" in term.run("/rag notes")
        shown = term.run(QUESTION)
        assert f"[1] Zorblax lighthouse — {documents / 'lighthouse.md'}" in shown
        assert "bright violet" in fake_llm.questions()[-1]
        assert "RAG is off" in term.run("/rag off")
        shown = term.run("And without documents?")
        assert "[1]" not in shown
        assert fake_llm.questions()[-1] == "And without documents?"
        assert term.leave() == 0
    finally:
        term.close()


def test_with_accounts_on_rag_reads_collections_as_the_given_user_sees_them(
        documents: Path, fake_llm: FakeLLM) -> None:
    anonymous = Terminal(fake_llm.url, documents, AUTH="on")
    try:
        assert "chatbot chat --user NAME" in anonymous.run("/rag alice-docs")
    finally:
        anonymous.close()
    bob = Terminal(fake_llm.url, documents, "--user", "bob", AUTH="on")
    try:
        # Alice's private collection is as absent to Bob as one that never existed.
        assert "No collection alice-docs" in bob.run("/rag alice-docs")
    finally:
        bob.close()
    alice = Terminal(fake_llm.url, documents, "--user", "alice", "--rag", "alice-docs",
                     AUTH="on", RAG_TIMEOUT=str(STEP_S))
    try:
        assert "RAG is on: each question searches collection alice-docs" in alice.banner
        assert "[1] Zorblax lighthouse" in alice.run(QUESTION)
    finally:
        alice.close()
    refused = pexpect.run(f"{sys.executable} -m chatbot chat --user nobody", cwd=str(ROOT),
                          withexitstatus=True, encoding="utf-8", timeout=START_S,
                          env={**os.environ, "DATA_DIR": str(documents), "AUTH": "on"})
    assert refused == ("chatbot chat: no active user named nobody\r\n", 2)


# The real model -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_real_model_streams_an_answer_and_reset_works(tmp_path: Path) -> None:
    with llmserver() as llm_url:
        term = Terminal(llm_url, tmp_path, CHAT_MAX_TOKENS="16")
        try:
            assert f"at {llm_url}/v1" in term.banner
            first = term.run("The capital of France is")
            assert first.strip() and "error" not in first
            assert "Started a new conversation" in term.run("/reset")
            second = term.run("Name three colours.")
            assert second.strip() and "error" not in second
            assert term.leave() == 0
        finally:
            term.close()
