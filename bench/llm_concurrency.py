"""Several users at once: llmserver (b) vs a bare `llama-server` anchor (a), side by side.

The anchor is the `llama-server` that `make install` built from llama-cpp-python's vendored
llama.cpp with the portable flags, started with the very command line llmserver gives its
engine (same model, threads, slots and context per slot). Each round runs 1, 4 and 8
concurrent streams against (a), then (b); the in-process `llama_cpp.Llama` (c) streams once
per round too, for the single-user ratio. Prints total tokens/s, each stream's time to first
token, the order the 8 were served in, and each side's peak resident memory. Every prompt is
sent cold (behind a number never sent before), so times to first token compare alike. Last, the
floor under any scheduler's time to first token for 4 prompts at once: the anchor given all 4
in one request, so that they are evaluated in a single batch from the start.

    .venv/bin/python bench/llm_concurrency.py [--rounds 3] [--max-tokens 150] [--slots 4]
"""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import llama_cpp  # noqa: E402
import openai  # noqa: E402

from harness.processes import DEFAULT_MODELS_DIR, free_port, peak_rss_mb, running  # noqa: E402
from llmserver.build import server_binary  # noqa: E402
from llmserver.chat_format import TEMPLATE  # noqa: E402
from llmserver.llamaserver import server_command  # noqa: E402
from llmserver.models import ModelEntry  # noqa: E402
from llmserver.settings import Settings  # noqa: E402

MODEL = DEFAULT_MODELS_DIR / "gemma-3-270m-q4_k_m.gguf"
ALIAS = MODEL.stem
PROMPTS = [
    "Once upon a time, a lighthouse keeper named Ada",
    "The history of the bicycle begins",
    "In the middle of the desert, the old train station",
    "Dear diary, today the weather",
    "The recipe for a good soup starts with",
    "Captain's log, stardate",
    "The first rule of gardening is",
    "When the orchestra began to play,",
]
N_CTX = 2048
# First tokens this close together came out of one decode step (a step takes 20-60 ms).
SAME_STEP_S = 0.02
_NONCE = itertools.count(secrets.randbelow(10**6) * 1000)
SEED = 42
# The servers' logs would drown the results.
QUIET = Path(os.devnull)
READY_S = 300  # seconds for each server to load the model


def cold(prompt: str) -> str:
    """`prompt` behind a word never sent before, so that no slot holds any of it: every
    stream, the single one too, evaluates its whole prompt (a repeated prompt would come from
    the slot's cache, and its first token after one decode step)."""
    return f"{next(_NONCE)}. {prompt}"


def stream_once(client: openai.OpenAI, prompt: str, max_tokens: int, started: float
                ) -> tuple[float, float, int]:
    """(time to first token from `started`, time of the last token, tokens) of one stream."""
    first = None
    count = 0
    for chunk in client.completions.create(
        model=ALIAS, prompt=prompt, max_tokens=max_tokens, temperature=0.8, seed=SEED,
        stream=True, extra_body={"ignore_eos": True},
    ):
        if chunk.choices and chunk.choices[0].text:
            count += 1
            if first is None:
                first = time.perf_counter() - started
    return first or float("nan"), time.perf_counter() - started, count


def concurrent(client: openai.OpenAI, users: int, max_tokens: int, stagger: float = 0.0,
               slots: int = 0) -> dict[str, object]:
    """`users` streams at once (started `stagger` s apart); total tok/s and each TTFT."""
    results: list[tuple[float, float, int] | None] = [None] * users
    started = time.perf_counter()

    def run(i: int) -> None:
        results[i] = stream_once(client, cold(PROMPTS[i % len(PROMPTS)]), max_tokens, started)

    threads = []
    for i in range(users):
        threads.append(threading.Thread(target=run, args=(i,)))
        threads[-1].start()
        time.sleep(stagger)
    for t in threads:
        t.join()
    done = [r for r in results if r is not None]
    assert len(done) == users, "a stream failed"
    tokens = sum(r[2] for r in done)
    wall = max(r[1] for r in done)
    ttfts = [r[0] for r in done]
    # Served in arrival order: the first `slots` streams start at once (in any order among
    # themselves), no stream that waited starts before one that arrived earlier. Slots that
    # free up together take their waiting streams into one batch: their first tokens come
    # within the same decode step, in no particular order.
    order = sorted(range(users), key=lambda i: ttfts[i])
    waited = range(slots, users)
    fifo = set(order[:slots]) == set(range(slots)) and all(
        ttfts[i] <= ttfts[j] + SAME_STEP_S for i in waited for j in waited if i < j)
    return {"tps": tokens / wall, "ttft": ttfts, "fifo": fifo,
            "single_tps": (done[0][2] - 1) / (done[0][1] - done[0][0])}


def one_batch(base_url: str, key: str, prompts: list[str]) -> float:
    """Seconds until llama-server has the first token of every prompt, all sent in one
    request (its native /completion takes a list), so no prompt waits for another's batch."""
    started = time.perf_counter()
    response = httpx.post(f"{base_url}/completion", headers={"Authorization": f"Bearer {key}"},
                          json={"prompt": prompts, "n_predict": 1, "cache_prompt": False},
                          timeout=600)
    response.raise_for_status()
    body = response.json()
    assert len(body if isinstance(body, list) else [body]) == len(prompts)
    return time.perf_counter() - started


def in_process(llm: llama_cpp.Llama, max_tokens: int) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    count = 0
    for chunk in llm.create_completion(cold(PROMPTS[0]), max_tokens=max_tokens, temperature=0.8,
                                       seed=SEED, stream=True):
        if chunk["choices"][0]["text"]:
            count += 1
            if first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    assert first is not None
    return first - started, (count - 1) / (end - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=150)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    settings = Settings(n_ctx=N_CTX, parallel=args.slots, threads=args.threads, seed=SEED)
    entry = ModelEntry(alias=ALIAS, path=MODEL, chat_format=None)
    key = secrets.token_urlsafe(8)
    anchor_port, ours_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "t.jinja"
        template.write_text(TEMPLATE)
        anchor_cmd = server_command(server_binary(), settings, entry, anchor_port, key, template)
        ours_env = {"LLMSERVER_PORT": str(ours_port), "MODELS_DIR": str(MODEL.parent),
                    "LLM_N_CTX": str(N_CTX), "LLM_PARALLEL": str(args.slots),
                    "LLM_THREADS": str(args.threads), "LLM_SEED": str(SEED)}
        with (
            running(anchor_cmd, f"http://127.0.0.1:{anchor_port}/health", log=QUIET,
                    timeout=READY_S) as anchor,
            running([sys.executable, "-m", "llmserver"], f"http://127.0.0.1:{ours_port}/health",
                    ours_env, log=QUIET, timeout=READY_S) as ours,
        ):
            clients = {
                "a": openai.OpenAI(base_url=f"http://127.0.0.1:{anchor_port}/v1", api_key=key,
                                   max_retries=0, timeout=600),
                "b": openai.OpenAI(base_url=f"http://127.0.0.1:{ours_port}/v1",
                                   api_key="unused", max_retries=0, timeout=600),
            }
            llm = llama_cpp.Llama(str(MODEL), n_ctx=N_CTX, n_threads=args.threads,
                                  n_threads_batch=args.threads, seed=SEED, verbose=False)
            for client in clients.values():  # warm-up
                concurrent(client, 1, 8)
            in_process(llm, 8)
            runs: dict[str, dict[int, list[dict[str, object]]]] = {
                side: {1: [], 4: [], 8: []} for side in clients
            }
            solo: list[tuple[float, float]] = []
            batched: dict[int, list[float]] = {1: [], 4: []}
            anchor_url = f"http://127.0.0.1:{anchor_port}"
            for _ in range(args.rounds):
                for n in batched:
                    batched[n].append(one_batch(anchor_url, key,
                                                [cold(q) for q in PROMPTS[:n]]))
                solo.append(in_process(llm, args.max_tokens))
                for users in (1, 4, 8):
                    for side, client in clients.items():
                        runs[side][users].append(
                            concurrent(client, users, args.max_tokens,
                                       stagger=0.05 if users == 8 else 0.0, slots=args.slots))
            rss = {"a": peak_rss_mb(anchor.pid), "b": peak_rss_mb(ours.pid)}

    label = {"a": "llama-server (anchor)", "b": "llmserver"}
    print(f"model {MODEL.name}, {args.threads} threads, {args.slots} slots x {N_CTX} tokens, "
          f"{args.max_tokens}-token completions, {args.rounds} rounds (medians)")
    solo_tps = statistics.median(s[1] for s in solo)
    print(f"(c) in-process llama_cpp.Llama, 1 stream: {solo_tps:6.1f} tok/s   "
          f"TTFT {statistics.median(s[0] for s in solo) * 1000:6.1f} ms")
    summary: dict[tuple[str, int], float] = {}
    for side in clients:
        for users in (1, 4, 8):
            rounds = runs[side][users]
            tps = statistics.median(float(r["tps"]) for r in rounds)  # type: ignore[arg-type]
            ttft = [statistics.median(float(r["ttft"][i]) for r in rounds)  # type: ignore[index]
                    for i in range(users)]
            summary[side, users] = tps
            line = f"({side}) {label[side]:<22} {users} stream(s): total {tps:6.1f} tok/s   TTFT "
            line += " / ".join(f"{t:.2f}" for t in ttft) + " s"
            if users == 1:
                summary[side, 0] = ttft[0]
            if users == 8:
                in_order = all(r["fifo"] for r in rounds)
                line += f"   served in arrival order: {'yes' if in_order else 'no'}"
            print(line)
        print(f"({side}) peak RSS {rss[side]:.0f} MB")
    print(f"ratio b/a, 4 streams total tok/s: {summary['b', 4] / summary['a', 4]:.3f}")
    print(f"ratio b/a, 8 streams total tok/s: {summary['b', 8] / summary['a', 8]:.3f}")
    print(f"ratio b/c, 1 stream tok/s: {summary['b', 1] / solo_tps:.3f}   "
          f"(a/c {summary['a', 1] / solo_tps:.3f})")
    worst = max(statistics.median(float(r["ttft"][i]) for r in runs["b"][4])  # type: ignore[index]
                for i in range(4))
    print(f"llmserver, 4 streams: slowest TTFT / 1-stream TTFT: {worst / summary['b', 0]:.2f}")
    alone, four = (statistics.median(batched[n]) for n in (1, 4))
    print(f"(a) 4 prompts in one request (one batch): first tokens after {four:.2f} s, "
          f"1 prompt {alone:.2f} s: ratio {four / alone:.2f}")


if __name__ == "__main__":
    main()
