"""What llama-server prints: every line passed on to llmserver's log with LLM_VERBOSE, and
the last ones kept for the report of why it stopped."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from llmserver.crash import describe_exit

# llama-server's own output, passed on with LLM_VERBOSE.
engine_log = logging.getLogger("llmserver.llama-server")

TAIL_LINES = 40


class ServerLog:
    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)

    def clear(self) -> None:
        self._tail.clear()

    async def read(self, proc: asyncio.subprocess.Process) -> None:
        """Until `proc` closes its output."""
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self._tail.append(line)
            if self.verbose:
                engine_log.info("%s", line)

    def exit_report(self, proc: asyncio.subprocess.Process, when: str) -> str:
        """How `proc` ended `when`, its last lines, and what to try."""
        code = proc.returncode
        how = describe_exit(code) if code is not None else "stopped answering"
        tail = "\n".join(f"  | {line}" for line in list(self._tail)[-12:])
        return (
            f"the inference engine (llama-server, pid {proc.pid}) {how} {when}.\n"
            f"Its last log lines:\n{tail}\n"
            "If this is a crash on this CPU, rebuild llama.cpp with other flags "
            "(LLAMA_CMAKE_ARGS, see docs/engine.md) or try LLM_ENGINE=llama-cpp-python."
        )
