"""The engines behind llmserver: llama-server's slots, its supervision, and the in-process one."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.processes import PROCESSES, children, llmserver

ALIAS = "gemma-3-270m-q4_k_m"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("engine") / "llmserver.log"
    with llmserver(log=log, LLM_N_CTX="4096", LLM_PARALLEL="4") as url:
        yield url, log


def engine_pids(url: str) -> list[int]:
    return children(PROCESSES[url].pid)


def wait_restarted(url: str, crashed: int, timeout: float = 120) -> None:
    """Until a new engine process serves and /health is ok again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        healthy = httpx.get(f"{url}/health", timeout=5).status_code == 200
        if healthy and engine_pids(url) and crashed not in engine_pids(url):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{url}: no new engine after {timeout} s")


def test_health_reports_the_engine_and_its_slots(served: tuple[str, Path]) -> None:
    health = httpx.get(f"{served[0]}/health").json()
    assert health["engine"] == "llama-server"
    assert health["slots"] == 4
    assert health["n_ctx"] == 4096


def test_eight_requests_on_four_slots_all_complete(served: tuple[str, Path]) -> None:
    client = openai.OpenAI(base_url=f"{served[0]}/v1", api_key="unused", max_retries=0,
                           timeout=300)
    results: dict[int, str | None] = {}

    def ask(i: int) -> None:
        reply = client.chat.completions.create(
            model=ALIAS, messages=[{"role": "user", "content": f"Count to {i}."}],
            max_tokens=8, temperature=0,
        )
        results[i] = reply.choices[0].finish_reason

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(results) == list(range(8))
    assert set(results.values()) <= {"stop", "length"}


def metrics(url: str) -> dict[str, float]:
    """/metrics as Prometheus parses it: unlabelled samples by name."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if not sample.labels}


def busy_slots(url: str) -> float:
    return metrics(url)["llamacpp:requests_processing"]


def test_metrics_are_llmservers_own_then_llama_servers(served: tuple[str, Path]) -> None:
    found = metrics(served[0])
    assert found["llmserver_ready"] == 1
    assert found["llmserver_engine_restarts_total"] == 0
    assert "llamacpp:requests_processing" in found
    assert "llamacpp:prompt_tokens_total" in found


def test_a_client_that_leaves_frees_its_slot(served: tuple[str, Path]) -> None:
    url = served[0]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    # 4096 tokens: far longer than the wait below on any machine, were it all generated.
    stream = client.completions.create(model=ALIAS, prompt="Once upon a time", max_tokens=4096,
                                       stream=True, extra_body={"ignore_eos": True})
    for _ in zip(range(3), stream, strict=False):
        pass
    assert busy_slots(url) == 1
    stream.close()
    deadline = time.monotonic() + 10
    while busy_slots(url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert busy_slots(url) == 0


def test_an_engine_crash_is_reported_in_words_and_the_engine_restarted(
    served: tuple[str, Path],
) -> None:
    url, log = served
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
    stream = client.completions.create(model=ALIAS, prompt="Once upon a time", max_tokens=400,
                                       stream=True)
    next(iter(stream))
    (before,) = engine_pids(url)
    os.kill(before, signal.SIGSEGV)
    # The stream being answered ends with an error, not silently and not never.
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
    wait_restarted(url, before)
    assert metrics(url)["llmserver_engine_restarts_total"] == 1
    reply = client.chat.completions.create(
        model=ALIAS, messages=[{"role": "user", "content": "Hello"}], max_tokens=4
    )
    assert reply.choices[0].message.content is not None
    text = log.read_text()
    assert "SIGSEGV" in text and "inference engine" in text and "Restarting" in text


def test_the_in_process_engine_stays_selectable() -> None:
    with llmserver(LLM_ENGINE="llama-cpp-python", LLM_N_CTX="512") as url:
        health = httpx.get(f"{url}/health").json()
        assert (health["engine"], health["slots"]) == ("llama-cpp-python", 1)
        found = metrics(url)
        assert found["llmserver_ready"] == 1
        assert not [name for name in found if name.startswith("llamacpp:")]
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model=ALIAS, messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=12, temperature=0,
        )
        assert "Paris" in (reply.choices[0].message.content or "")
