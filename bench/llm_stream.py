"""Streaming speed: in-process llama_cpp.Llama (a) vs llmserver through the openai client (b),
and with `--native`, the same in-process stream on a build tuned to this CPU (c).

Same model, prompt, seed, threads and max_tokens; the sides alternate, round by round, in one
run so machine noise hits them alike. (a) and (c) run in child processes of their own, since
one process can load only one build of llama.cpp: (a) the portable build that `make install`
made, (c) a `-march=native` build (AMX off) of the same source, built under build/ on first
use. Prints tokens/s and time to first token for each, and the ratios.

    .venv/bin/python bench/llm_stream.py [--rounds 5] [--max-tokens 256] [--native]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from harness.processes import llmserver  # noqa: E402
from llmserver.llama_build import flags  # noqa: E402
from llmserver.llama_build.cmake import cmake_build  # noqa: E402
from llmserver.llama_build.source import fetch_source  # noqa: E402

MODEL = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
ALIAS = MODEL.stem
# A plain completion, so no stop sequence ends a round early: every round streams max_tokens.
PROMPT = "Once upon a time, a lighthouse keeper named Ada"
N_CTX = 2048
SEED = 42
# Tuned to this CPU, as llama-cpp-python builds by default, but with AMX off (the path that
# faulted): the reference the portable build must keep up with.
NATIVE_FLAGS = {
    **flags.CMAKE_FLAGS,
    "GGML_NATIVE": "ON",
    "GGML_BACKEND_DL": "OFF",
    "GGML_CPU_ALL_VARIANTS": "OFF",
    "CMAKE_C_FLAGS": "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
    "CMAKE_CXX_FLAGS": "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
    "LLAMA_BUILD_SERVER": "OFF",
    "LLAMA_BUILD_TOOLS": "OFF",
}


def measure(stream) -> tuple[float, float, int]:
    """(time to first token, tokens/s after the first, tokens) of a chunk stream."""
    start = time.perf_counter()
    first = None
    count = 0
    for content in stream:
        if not content:
            continue
        count += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    assert first is not None, "no tokens"
    return first - start, (count - 1) / (end - first), count


def worker(threads: int) -> None:
    """In a child: load the model, then stream `max_tokens` per line read, print figures."""
    import llama_cpp

    llm = llama_cpp.Llama(str(MODEL), n_ctx=N_CTX, n_threads=threads, n_threads_batch=threads,
                          seed=SEED, verbose=False)
    for line in sys.stdin:
        stream = llm.create_completion(PROMPT, max_tokens=int(line), temperature=0.8, seed=SEED,
                                       stream=True)
        ttft, tps, count = measure(chunk["choices"][0]["text"] for chunk in stream)
        print(ttft, tps, count, flush=True)


class InProcess:
    """A worker child on the llama.cpp build in `lib` (None: the installed one)."""

    def __init__(self, threads: int, lib: Path | None):
        env = {**os.environ, **({"LLAMA_CPP_LIB_PATH": str(lib)} if lib else {})}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )

    def run(self, max_tokens: int) -> tuple[float, float, int]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"{max_tokens}\n")
        self.proc.stdin.flush()
        ttft, tps, count = self.proc.stdout.readline().split()
        return float(ttft), float(tps), int(count)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def native_build() -> Path:
    """build/llama.cpp-native-build/bin, built from the installed version's source if absent."""
    version = importlib.metadata.version(flags.PACKAGE)
    work = (ROOT / "build").resolve()
    built = work / "llama.cpp-native-build" / "bin"
    if not (built / "libllama.so").exists():
        source = fetch_source(version, work)
        cmake_build(source, work / "llama.cpp-native-build", NATIVE_FLAGS, ("llama",),
                    os.cpu_count() or 1, work / "llama.cpp-native-build.log")
    return built


def through_server(client: openai.OpenAI, max_tokens: int):
    for chunk in client.completions.create(
        model=ALIAS, prompt=PROMPT, max_tokens=max_tokens, temperature=0.8, seed=SEED, stream=True
    ):
        if chunk.choices:
            yield chunk.choices[0].text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--native", action="store_true",
                        help="also measure a build tuned to this CPU (c)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.threads)
        return

    sides = {"a": InProcess(args.threads, None)}
    if args.native:
        sides["c"] = InProcess(args.threads, native_build())
    results: dict[str, list[tuple[float, float, int]]] = {"a": [], "b": [], "c": []}
    with llmserver(LLM_N_CTX=str(N_CTX), LLM_THREADS=str(args.threads)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        # Warm-up every side so page faults and first-call setup count for none.
        for side in sides.values():
            side.run(8)
        measure(through_server(client, 8))
        for _ in range(args.rounds):
            results["a"].append(sides["a"].run(args.max_tokens))
            results["b"].append(measure(through_server(client, args.max_tokens)))
            if "c" in sides:
                results["c"].append(sides["c"].run(args.max_tokens))
    for side in sides.values():
        side.close()

    def summary(name: str, label: str) -> tuple[float, float]:
        ttft = statistics.median(r[0] for r in results[name]) * 1000
        tps = statistics.median(r[1] for r in results[name])
        tokens = statistics.median(r[2] for r in results[name])
        print(
            f"({name}) {label:<40} {tps:7.1f} tok/s   TTFT {ttft:6.1f} ms   "
            f"{tokens:.0f} tokens (median of {len(results[name])})"
        )
        return tps, ttft

    print(f"model {MODEL.name}, {args.threads} threads, max_tokens {args.max_tokens}")
    tps_a, ttft_a = summary("a", "in-process llama_cpp.Llama, portable")
    tps_b, ttft_b = summary("b", "llmserver + openai client")
    print(f"ratio b/a tokens/s: {tps_b / tps_a:.3f}   added TTFT: {ttft_b - ttft_a:+.1f} ms")
    if "c" in sides:
        tps_c, _ = summary("c", "in-process llama_cpp.Llama, native")
        print(f"ratio a/c tokens/s (portable / native): {tps_a / tps_c:.3f}")


if __name__ == "__main__":
    main()
