"""Where the time to first token goes: llama.cpp's prompt-processing rate under each set of
llama-server flags, and what llmserver gets, side by side in one run.

Each flag set runs as a bare `llama-server` started with llmserver's own command line
(`server_command`), those flags put in place of its own; llmserver runs as it ships, beside
them. Prompts of about 300, 900 and 2000 tokens, cut from the project's own docs and each
sent cold (behind a number never sent before, so no slot holds any of it), go one at a time
to each server in turn, round after round, so the machine's noise hits every server alike.
Each is a streamed `/v1/completions` of one token, as a client sends it. Printed per server
and prompt size: llama-server's own prompt-processing rate (the `timings` of its last
chunk), the time to first token at the client, and that time against the shipped flags'.

    .venv/bin/python bench/engine_flags.py [--rounds 3] [--sets shipped,fa-off,...]

`--after-burst` measures instead what a short request waits right after 4 users' prompts of
about 900 tokens (sent at once, each to a slot of its own), and the short request after it.

    .venv/bin/python bench/engine_flags.py --after-burst --sets shipped,cache-idle [--rounds 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from harness.processes import DEFAULT_MODELS_DIR, free_port, running  # noqa: E402
from llmserver.engines.command import server_command, server_environment  # noqa: E402
from llmserver.llama_build import server_binary  # noqa: E402
from llmserver.models.chat_format import TEMPLATE  # noqa: E402
from llmserver.models.discovery import ModelEntry  # noqa: E402
from llmserver.settings import Settings  # noqa: E402

MODEL = DEFAULT_MODELS_DIR / "gemma-3-270m-q4_k_m.gguf"
ALIAS = MODEL.stem
N_CTX = 4096
SIZES = (300, 900, 2000)
SHORT = "The history of the bicycle begins"
SEED = 42
READY_S = 300
QUIET = Path(os.devnull)
# Flags put in place of server_command's own (or added). "shipped" is llmserver's command
# line as it is; the others change one thing each, unless named otherwise.
FLAG_SETS: dict[str, dict[str, str]] = {
    "shipped": {},
    "fa-off": {"--flash-attn": "off"},
    "fa-on": {"--flash-attn": "on"},
    "ub-128": {"--ubatch-size": "128"},
    "ub-256": {"--ubatch-size": "256"},
    "ub-1024": {"--ubatch-size": "1024"},
    "ub-2048": {"--ubatch-size": "2048"},
    "b-512": {"--batch-size": "512", "--ubatch-size": "512"},
    "tb-1": {"--threads": "1", "--threads-batch": "1"},
    "t-3": {"--threads": "3", "--threads-batch": "3"},
    "no-cache-ram": {"--cache-ram": "0"},
    # llama.cpp reads its flags in order: the last of two opposites wins.
    "cache-idle": {"--cache-idle-slots": ""},
}
BURST = 4
_NONCE = itertools.count(secrets.randbelow(10**6) * 1000)


def with_flags(command: list[str], flags: dict[str, str]) -> list[str]:
    """`command` with each flag's value replaced, or the flag added ("": a flag alone)."""
    command = list(command)
    for flag, value in flags.items():
        if flag not in command:
            command += [flag, value] if value else [flag]
        elif value:
            command[command.index(flag) + 1] = value
    return command


def prompts(base: str, key: str, sizes: tuple[int, ...]) -> dict[int, str]:
    """Text of about each size in tokens, cut from the docs with the model's own tokenizer."""
    text = "\n\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    headers = {"Authorization": f"Bearer {key}"}
    tokens = httpx.post(f"{base}/tokenize", json={"content": text}, headers=headers,
                        timeout=60).json()["tokens"]
    assert len(tokens) > max(sizes), "not enough text in docs/"
    return {size: httpx.post(f"{base}/detokenize", json={"tokens": tokens[:size]},
                             headers=headers, timeout=60).json()["content"]
            for size in sizes}


def first_token(base: str, key: str, prompt: str) -> tuple[float, float, int]:
    """(seconds to the first streamed token, llama-server's prompt tokens/s, prompt tokens)
    of a one-token streamed completion of `prompt`, sent cold."""
    body = {"model": ALIAS, "prompt": f"{next(_NONCE)}. {prompt}", "max_tokens": 1,
            "temperature": 0, "stream": True}
    started = time.perf_counter()
    ttft = None
    timings: dict[str, float] = {}
    with httpx.stream("POST", f"{base}/v1/completions", json=body, timeout=600,
                      headers={"Authorization": f"Bearer {key}"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if ttft is None and any(c.get("text") for c in chunk.get("choices", [])):
                ttft = time.perf_counter() - started
            timings = chunk.get("timings") or timings
    assert ttft is not None, "no token"
    return ttft, timings.get("prompt_per_second", float("nan")), int(timings.get("prompt_n", 0))


def after_burst(base: str, key: str, burst: str, short: str) -> tuple[float, float]:
    """TTFT of a short request sent right after BURST `burst` prompts at once, and of the
    next short one."""
    threads = [threading.Thread(target=first_token, args=(base, key, burst))
               for _ in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return first_token(base, key, short)[0], first_token(base, key, short)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sets", default=",".join(FLAG_SETS),
                        help="comma-separated flag sets to run beside llmserver")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="comma-separated prompt sizes, in tokens")
    parser.add_argument("--after-burst", action="store_true",
                        help="a short request's TTFT right after 4 prompts of ~900 tokens")
    args = parser.parse_args()
    sets = args.sets.split(",")
    sizes = tuple(int(size) for size in args.sizes.split(","))
    unknown = [s for s in sets if s not in FLAG_SETS]
    if unknown:
        parser.error(f"unknown flag sets {unknown}; known: {', '.join(FLAG_SETS)}")

    settings = Settings(n_ctx=N_CTX, seed=SEED)
    entry = ModelEntry(alias=ALIAS, path=MODEL, chat_format=None)
    key = secrets.token_urlsafe(8)
    bases: dict[str, str] = {}
    commands: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        template = Path(tmp) / "t.jinja"
        template.write_text(TEMPLATE)
        for name in sets:
            port = free_port()
            commands[name] = with_flags(
                server_command(server_binary(), settings, entry, port, template),
                FLAG_SETS[name])
            stack.enter_context(running(commands[name], f"http://127.0.0.1:{port}/health",
                                        server_environment(key), log=QUIET,
                                        timeout=READY_S))
            bases[name] = f"http://127.0.0.1:{port}"
        port = free_port()
        stack.enter_context(running(
            [sys.executable, "-m", "llmserver"], f"http://127.0.0.1:{port}/health",
            {"LLMSERVER_PORT": str(port), "MODELS_DIR": str(MODEL.parent),
             "LLM_N_CTX": str(N_CTX), "LLM_SEED": str(SEED), "LLM_API_KEY": key},
            log=QUIET, timeout=READY_S))
        bases["llmserver"] = f"http://127.0.0.1:{port}"
        if args.after_burst:
            sizes = (900,)
        texts = prompts(bases[sets[0]], key, sizes)
        for base in bases.values():  # warm-up: first-call set-up counts for none
            first_token(base, key, texts[sizes[0]])
        if args.after_burst:
            bursts: dict[str, list[tuple[float, float]]] = {name: [] for name in bases}
            for _ in range(args.rounds):
                for name, base in bases.items():
                    bursts[name].append(after_burst(base, key, texts[900], SHORT))
            print(f"model {MODEL.name}, {os.cpu_count()} CPUs, {args.rounds} rounds (medians): "
                  f"a short request right after {BURST} prompts of ~900 tokens at once")
            for name, rows in bursts.items():
                print(f"{name:<14} TTFT {statistics.median(r[0] for r in rows) * 1000:6.0f} ms, "
                      f"the next one {statistics.median(r[1] for r in rows) * 1000:6.0f} ms")
            return
        results: dict[tuple[str, int], list[tuple[float, float, int]]] = {
            (name, size): [] for name in bases for size in sizes}
        for _ in range(args.rounds):
            for size in sizes:
                for name, base in bases.items():
                    results[name, size].append(first_token(base, key, texts[size]))

    shipped = " ".join(commands[sets[0]][commands[sets[0]].index("--ctx-size"):])
    print(f"model {MODEL.name}, {os.cpu_count()} CPUs, {args.rounds} rounds (medians); "
          f"{sets[0]}: {shipped}")
    print("per prompt size: llama-server's prompt tokens/s, time to first token (ms), "
          f"TTFT / {sets[0]}'s")
    print(f"{'server':<14}" + "".join(f"{f'~{size} tokens':>24}" for size in sizes))
    for name in bases:
        line = f"{name:<14}"
        for size in sizes:
            rows = results[name, size]
            rate = statistics.median(r[1] for r in rows)
            ttft = statistics.median(r[0] for r in rows)
            anchor = statistics.median(r[0] for r in results[sets[0], size])
            line += f"{rate:>8.0f} {ttft * 1000:>7.0f} {ttft / anchor:>7.2f}"
        print(line)
    print("prompt tokens: " + ", ".join(
        f"~{size}: {statistics.median(r[2] for r in results[sets[0], size]):.0f}"
        for size in sizes))


if __name__ == "__main__":
    main()
