"""Streaming speed: in-process llama_cpp.Llama (a) vs llmserver through the openai client (b).

Same model, prompt, seed, threads and max_tokens; the two alternate, round by round, in one
run so machine noise hits both alike. Prints tokens/s and time to first token for each and
the ratio b/a.

    .venv/bin/python bench/llm_stream.py [--rounds 5] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import llama_cpp  # noqa: E402
import openai  # noqa: E402

from tests.servers import llmserver  # noqa: E402

MODEL = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
ALIAS = MODEL.stem
# A plain completion, so no stop sequence ends a round early: every round streams max_tokens.
PROMPT = "Once upon a time, a lighthouse keeper named Ada"
N_CTX = 2048
SEED = 42


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


def in_process(llm: llama_cpp.Llama, max_tokens: int):
    for chunk in llm.create_completion(
        PROMPT, max_tokens=max_tokens, temperature=0.8, seed=SEED, stream=True
    ):
        yield chunk["choices"][0]["text"]


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
    args = parser.parse_args()

    results: dict[str, list[tuple[float, float, int]]] = {"a": [], "b": []}
    with llmserver(LLM_N_CTX=str(N_CTX), LLM_THREADS=str(args.threads)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        llm = llama_cpp.Llama(
            str(MODEL),
            n_ctx=N_CTX,
            n_threads=args.threads,
            n_threads_batch=args.threads,
            seed=SEED,
            verbose=False,
        )
        # Warm-up both so page faults and first-call setup count for neither.
        measure(in_process(llm, 8))
        measure(through_server(client, 8))
        for _ in range(args.rounds):
            results["a"].append(measure(in_process(llm, args.max_tokens)))
            results["b"].append(measure(through_server(client, args.max_tokens)))

    def summary(name: str, label: str) -> tuple[float, float]:
        ttft = statistics.median(r[0] for r in results[name]) * 1000
        tps = statistics.median(r[1] for r in results[name])
        tokens = statistics.median(r[2] for r in results[name])
        print(
            f"({name}) {label:<34} {tps:7.1f} tok/s   TTFT {ttft:6.1f} ms   "
            f"{tokens:.0f} tokens (median of {len(results[name])})"
        )
        return tps, ttft

    print(f"model {MODEL.name}, {args.threads} threads, max_tokens {args.max_tokens}")
    tps_a, ttft_a = summary("a", "in-process llama_cpp.Llama")
    tps_b, ttft_b = summary("b", "llmserver + openai client")
    print(f"ratio b/a tokens/s: {tps_b / tps_a:.3f}   added TTFT: {ttft_b - ttft_a:+.1f} ms")


if __name__ == "__main__":
    main()
