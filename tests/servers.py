"""Real processes on loopback for integration tests: start, wait until ready, stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = ROOT / "models"


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


# The process behind each base URL a helper below has yielded, for tests that crash one.
PROCESSES: dict[str, subprocess.Popen] = {}


@contextmanager
def _serve(module: str, port: int, env: dict[str, str], ready_path: str,
           log: Path | None = None) -> Iterator[str]:
    """`python -m <module>` with `env` added, until `ready_path` answers 200; yields its URL.
    `log`: a file that takes the process's stdout and stderr."""
    out = log.open("w") if log else None
    proc = subprocess.Popen([sys.executable, "-m", module], env={**os.environ, **env}, cwd=ROOT,
                            stdout=out, stderr=subprocess.STDOUT if out else None)
    base = f"http://127.0.0.1:{port}"
    PROCESSES[base] = proc
    try:
        wait_for(f"{base}{ready_path}", proc)
        yield base
    finally:
        PROCESSES.pop(base, None)
        stop(proc)
        if out:
            out.close()


def children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@contextmanager
def llmserver(port: int | None = None, log: Path | None = None, **env: str) -> Iterator[str]:
    """A real `python -m llmserver` on loopback; yields its base URL (without /v1)."""
    port = port or free_port()
    with _serve("llmserver", port, {
        "LLMSERVER_HOST": "127.0.0.1",
        "LLMSERVER_PORT": str(port),
        "MODELS_DIR": str(DEFAULT_MODELS_DIR),
        "LLM_N_CTX": "2048",
        "LLM_SEED": "42",
        **env,
    }, "/health", log) as base:
        yield base


@contextmanager
def chatbot(llm_url: str, data_dir: Path, port: int | None = None, **env: str) -> Iterator[str]:
    """A real `python -m chatbot` on loopback answering from `llm_url` (a server root, without
    /v1) and keeping conversations in `data_dir`; yields its base URL."""
    port = port or free_port()
    with _serve("chatbot", port, {
        "CHATBOT_HOST": "127.0.0.1",
        "CHATBOT_PORT": str(port),
        "LLM_BASE_URL": f"{llm_url}/v1",
        "DATA_DIR": str(data_dir),
        # Short answers keep the suite fast on 2 cores; tests that need more say so.
        "CHAT_MAX_TOKENS": "32",
        **env,
    }, "/healthz") as base:
        yield base
