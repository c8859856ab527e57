"""Real processes on loopback: start one, wait until it answers, stop it; the llmserver and
the chatbot as tests and benchmarks run them (the chatbot also under gunicorn, as several
instances sharing a Redis); the children and peak memory of a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis

from scripts.run import gunicorn_command

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = ROOT / "models"
# Debian's, installed by `make test` (Makefile: redis).
REDIS_SERVER = Path("/usr/bin/redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} before {url} was ready")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running(command: list[str], ready_url: str, env: dict[str, str] | None = None,
            log: Path | None = None, timeout: float = 120.0) -> Iterator[subprocess.Popen]:
    """`command`, run from the repository root with `env` added, until `ready_url` answers
    200; yields the process and stops it on the way out. `log`: a file that takes its stdout
    and stderr (`os.devnull` discards them); without it they go to ours."""
    out = log.open("w") if log else None
    proc = subprocess.Popen(command, env={**os.environ, **(env or {})}, cwd=ROOT,
                            stdout=out, stderr=subprocess.STDOUT if out else None)
    try:
        wait_for(ready_url, proc, timeout)
        yield proc
    finally:
        stop(proc)
        if out:
            out.close()


# The process behind each base URL a helper below has yielded, for tests that crash one.
PROCESSES: dict[str, subprocess.Popen] = {}


@contextmanager
def _module(module: str, port: int, env: dict[str, str], ready_path: str,
            log: Path | None = None) -> Iterator[str]:
    """`python -m <module>` listening on `port`, until `ready_path` answers; yields its URL."""
    base = f"http://127.0.0.1:{port}"
    with running([sys.executable, "-m", module], f"{base}{ready_path}", env, log) as proc:
        PROCESSES[base] = proc
        try:
            yield base
        finally:
            PROCESSES.pop(base, None)


@contextmanager
def llmserver(port: int | None = None, log: Path | None = None, **env: str) -> Iterator[str]:
    """A real `python -m llmserver` on loopback; yields its base URL (without /v1)."""
    port = port or free_port()
    with _module("llmserver", port, {
        "LLMSERVER_HOST": "127.0.0.1",
        "LLMSERVER_PORT": str(port),
        "MODELS_DIR": str(DEFAULT_MODELS_DIR),
        "LLM_N_CTX": "2048",
        "LLM_SEED": "42",
        **env,
    }, "/health", log) as base:
        yield base


def _chatbot_env(llm_url: str, data_dir: Path, port: int, env: dict[str, str]) -> dict[str, str]:
    return {
        "CHATBOT_HOST": "127.0.0.1",
        "CHATBOT_PORT": str(port),
        "LLM_BASE_URL": f"{llm_url}/v1",
        "DATA_DIR": str(data_dir),
        # Short answers keep the suite fast on 2 cores; tests that need more say so.
        "CHAT_MAX_TOKENS": "32",
        **env,
    }


@contextmanager
def chatbot(llm_url: str, data_dir: Path, port: int | None = None, **env: str) -> Iterator[str]:
    """A real `python -m chatbot` on loopback answering from `llm_url` (a server root, without
    /v1) and keeping conversations in `data_dir`; yields its base URL."""
    port = port or free_port()
    with _module("chatbot", port, _chatbot_env(llm_url, data_dir, port, env),
                 "/healthz") as base:
        yield base


@contextmanager
def chatbot_instances(llm_url: str, data_dir: Path, count: int,
                      **env: str) -> Iterator[list[str]]:
    """`count` chatbots under gunicorn (the production command, scripts/run.py) sharing
    `data_dir`, all started at the same moment as a deployment's instances are; yields their
    base URLs. Pass REDIS_URL to make them one product."""
    ports = [free_port() for _ in range(count)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    procs: list[subprocess.Popen] = []
    try:
        for port in ports:
            procs.append(subprocess.Popen(
                gunicorn_command("127.0.0.1", port), cwd=ROOT,
                env={**os.environ, **_chatbot_env(llm_url, data_dir, port, env)}))
        for base, proc in zip(bases, procs, strict=True):
            wait_for(f"{base}/healthz", proc)
            PROCESSES[base] = proc
        yield bases
    finally:
        for base, proc in zip(bases, procs, strict=False):
            PROCESSES.pop(base, None)
            stop(proc)


@contextmanager
def redis_server(timeout: float = 30.0) -> Iterator[str]:
    """Debian's redis-server on a free loopback port, keeping nothing on disk; yields its
    redis:// URL."""
    port = free_port()
    proc = subprocess.Popen(
        [str(REDIS_SERVER), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--loglevel", "warning"], cwd=ROOT)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {proc.returncode}")
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server not ready after {timeout}s") from None
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        stop(proc)


def children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we read it
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory (VmHWM) of `pid` and its children, in MB."""
    total = 0
    for candidate in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def wait_until(condition: Callable[[], bool], what: str = "condition",
               timeout: float = 30) -> None:
    """Poll `condition` every 50 ms; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        time.sleep(0.05)


def generating_upstream(llm_url: str) -> int:
    """How many answers the LLM server (llmserver or the fake one) is generating now."""
    return httpx.get(f"{llm_url}/health", timeout=5).json()["active"]
