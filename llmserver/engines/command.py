"""How llama-server is started: its command line, its environment (which carries its key)
and the chat template files it reads."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import tempfile
from pathlib import Path

from llmserver.models.chat_format import BASE_MODEL_FORMAT, TEMPLATE
from llmserver.models.discovery import ModelEntry
from llmserver.names import inside
from llmserver.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """In the child before exec: SIGKILL it when llmserver dies, however that happens, so a
    killed llmserver never leaves an engine holding the memory and the model."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def server_command(binary: Path, settings: Settings, entry: ModelEntry, port: int,
                   template: Path) -> list[str]:
    """llama-server's command line for `entry` (also what bench/llm_concurrency.py runs bare,
    so the anchor and llmserver's engine are configured alike). `template`: the file of the
    chat template `entry` is prompted with when it is not the GGUF's own.

    Its key is not on it: every local user reads a command line (`ps`, /proc/PID/cmdline),
    only the process's owner its environment, so the key goes in `server_environment`."""
    command = [
        str(binary),
        "--model", str(entry.path),
        "--alias", entry.alias,
        "--host", "127.0.0.1",
        "--port", str(port),
        # Each slot gets the model's whole context (its yaml's n_ctx, else LLM_N_CTX);
        # memory is bounded by slots x context.
        "--ctx-size", str(entry.n_ctx(settings.n_ctx) * settings.parallel),
        "--parallel", str(settings.parallel),
        "--threads", str(settings.threads),
        "--threads-batch", str(settings.threads),
        "--seed", str(settings.seed),
        "--jinja",
        "--no-webui",
        "--metrics",
        # Sleep rather than spin between batches: llmserver, the chatbot and their clients
        # need the same cores at every token (4 chats at once: first tokens 0.39 s instead
        # of 0.45 s, throughput unchanged; docs/benchmarks.md).
        "--poll", "0",
        # llama-server copies every idle slot's context to its RAM prompt cache whenever a
        # request starts (23 MB for a slot that answered a 900-token prompt, with gemma-3's
        # context checkpoints), on the loop that evaluates everyone's batches: a short
        # request right after 4 grounded ones waited 135 ms instead of 88 ms
        # (docs/engine.md). A slot's context is still saved when another conversation takes
        # the slot over, which is when the copy is of use.
        "--no-cache-idle-slots",
    ]
    if entry.chat_format == BASE_MODEL_FORMAT or entry.chat_template is not None:
        command += ["--chat-template-file", str(template)]
    return command


def server_environment(key: str) -> dict[str, str]:
    """llama-server's environment: ours, and its key in LLAMA_API_KEY, which llama-server
    reads as `--api-key` (llama.cpp common/arg.cpp, `.set_env("LLAMA_API_KEY")`)."""
    return {**os.environ, "LLAMA_API_KEY": key}


class TemplateFiles:
    """The chat template files llama-server is started with (`--chat-template-file`): the
    transcript format's, and each model's own from its yaml, in a private temporary folder."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="llmserver-")
        self.transcript = Path(self._dir.name) / "transcript.jinja"
        self.transcript.write_text(TEMPLATE)

    def add(self, entry: ModelEntry) -> None:
        if entry.chat_template is not None:
            self.of(entry).write_text(entry.chat_template, encoding="utf-8")

    def of(self, entry: ModelEntry) -> Path:
        if entry.chat_template is None:
            return self.transcript
        # The alias is a file name in MODELS_DIR, but it becomes a path here all the same.
        return inside(Path(self._dir.name), f"model-{entry.alias}.jinja")

    def cleanup(self) -> None:
        self._dir.cleanup()
