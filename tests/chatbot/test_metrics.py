"""What an operator watches: `/metrics` after real answers from the fake LLM server, and the
log lines (JSON objects when not on a terminal, never what the user typed)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from gunicorn.config import Config
from prometheus_client.parser import text_string_to_metric_families

from chatbot import logs
from harness.inprocess import ChatApp
from harness.processes import free_port

SECRET = "my-secret-phrase-about-tulips"


class Scrape:
    """`/metrics` parsed as Prometheus parses it: the family names, and each sample's value
    by its name and labels."""

    def __init__(self, chat: ChatApp):
        response = chat.app.test_client().get("/metrics")
        assert response.status_code == 200
        self.families: set[str] = set()
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(response.text):
            self.families.add(family.name)
            for sample in family.samples:
                self.samples[sample.name, frozenset(sample.labels.items())] = sample.value

    def __call__(self, name: str, **labels: str) -> float:
        return self.samples[name, frozenset(labels.items())]


def test_metrics_after_one_answer(chat: ChatApp) -> None:
    _, event, _ = chat.tab().ask("Count me")
    assert event == "done"
    metrics = Scrape(chat)
    for name in ("chatbot_messages", "chatbot_connections", "chatbot_http_requests",
                 "chatbot_generating", "chatbot_queued", "chatbot_time_to_first_token_seconds",
                 "chatbot_tokens_per_second", "chatbot_retrieval_seconds", "chatbot_ingests",
                 "chatbot_ingested_documents", "chatbot_ingested_chunks", "chatbot_answers",
                 "chatbot_errors", "process_cpu_seconds"):
        assert name in metrics.families, name
    assert metrics("chatbot_messages_total") == 1
    assert metrics("chatbot_time_to_first_token_seconds_count") == 1
    assert metrics("chatbot_tokens_per_second_count") == 1
    assert metrics("chatbot_generating") == 0 and metrics("chatbot_queued") == 0
    assert metrics("chatbot_http_requests_total", endpoint="chat.index", status="200") >= 1
    errors = [v for (name, _), v in metrics.samples.items() if name == "chatbot_errors_total"]
    assert len(errors) == 6 and set(errors) == {0}


def test_errors_are_counted_by_kind(make_chat: Callable[..., ChatApp]) -> None:
    chat = make_chat(llm_url=f"http://127.0.0.1:{free_port()}")
    tab = chat.tab()
    _, event, _ = tab.ask("Anyone there?")
    assert event == "error"
    tab.wait("error", since=tab.emit("message", "not an object"))
    metrics = Scrape(chat)
    assert metrics("chatbot_errors_total", kind="answer") == 1
    assert metrics("chatbot_errors_total", kind="bad_payload") == 1
    assert metrics("chatbot_errors_total", kind="retrieval") == 0


@pytest.fixture
def stderr_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[str]]]:
    def lines() -> list[str]:
        return capsys.readouterr().err.splitlines()

    yield lines
    logs.setup()


def test_json_lines_carry_no_message_text(make_chat: Callable[..., ChatApp],
                                          stderr_lines: Callable[[], list[str]]) -> None:
    # The default, `auto`: stderr is not a terminal here, so JSON.
    chat = make_chat()
    _, event, _ = chat.tab().ask(SECRET)
    assert event == "done"
    logging.getLogger("chatbot.test").info("answered", extra={"conversation": "c-1"})
    lines = stderr_lines()
    entries = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= entries[-1].keys()
    assert entries[-1]["conversation"] == "c-1" and entries[-1]["logger"] == "chatbot.test"
    assert any(e["message"].startswith("generated a cookie signing key") for e in entries)
    assert not [line for line in lines if SECRET in line]


def test_text_lines_and_bound_fields(stderr_lines: Callable[[], list[str]]) -> None:
    logs.setup("INFO", "text")
    log = logging.getLogger("chatbot.test")
    with logs.context(conversation="c-2"):
        log.info("retrieved %d passages", 3, extra={"collection": "default"})
    log.debug("not shown at INFO")
    [line] = stderr_lines()
    assert line.endswith("INFO chatbot.test: retrieved 3 passages collection=default "
                         "conversation=c-2")

    logs.setup("DEBUG", "json")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    [line] = stderr_lines()
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and "ValueError: boom" in entry["exception"]
    assert "conversation" not in entry


def test_auto_is_text_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(logs.formatter("auto", Terminal()), logs.TextFormatter)
    assert isinstance(logs.formatter("auto", io.StringIO()), logs.JsonFormatter)


def test_gunicorn_logs_in_the_same_format(monkeypatch: pytest.MonkeyPatch,
                                          stderr_lines: Callable[[], list[str]]) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    logger = logs.GunicornLogger(Config())
    try:
        logger.info("Booting worker with pid: %s", 42)
        [line] = stderr_lines()
        entry = json.loads(line)
        assert (entry["logger"], entry["message"]) == ("gunicorn.error",
                                                      "Booting worker with pid: 42")
    finally:
        for handler in list(logger.error_log.handlers):
            logger.error_log.removeHandler(handler)
