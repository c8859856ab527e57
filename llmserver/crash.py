"""How a process ended, in words: for the build's smoke check, the engine supervisor and
`make run`. Standard library only, so that each of them can import it cheaply."""

from __future__ import annotations

import signal


def describe_exit(code: int) -> str:
    """'was killed by SIGSEGV (a memory access fault ...)' or 'exited with status 1'."""
    if code >= 0:
        return f"exited with status {code}"
    try:
        sig = signal.Signals(-code)
    except ValueError:
        return f"was killed by signal {-code}"
    meaning = {
        signal.SIGSEGV: "a memory access fault, or a CPU instruction this machine does not "
        "enable, such as AMX",
        signal.SIGILL: "an instruction this CPU does not have: a build tuned to another CPU",
        signal.SIGKILL: "killed from outside, often by the kernel when memory ran out",
        signal.SIGBUS: "a bus error, often a model file that changed or vanished while mapped",
        signal.SIGABRT: "llama.cpp stopped itself on a failed check",
    }.get(sig)
    return f"was killed by {sig.name}" + (f" ({meaning})" if meaning else "")
