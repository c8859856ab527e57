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

`--first-tokens` measures only times to first token, for llmserver's hold (LLM_HOLD_MS): 4
users at once and one alone, against the anchor (a), llmserver as it ships (b) and llmserver
with the hold off (b0), for short prompts and for prompts of about 400 and 900 tokens (the
size of a grounded question: passages cut from the project's docs), each round beside the
floor (the anchor given the 4 prompts in one request) and one prompt alone in the anchor.

    .venv/bin/python bench/llm_concurrency.py --first-tokens [--rounds 5]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import llama_cpp  # noqa: E402
import openai  # noqa: E402

from harness.processes import DEFAULT_MODELS_DIR, free_port, peak_rss_mb, running  # noqa: E402
from llmserver.engines.command import server_command, server_environment  # noqa: E402
from llmserver.llama_build import server_binary  # noqa: E402
from llmserver.models.chat_format import TEMPLATE  # noqa: E402
from llmserver.models.discovery import ModelEntry  # noqa: E402
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
# Lone requests per side per round in --first-tokens: the hold's cost is a few ms.
LONE = 6


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
               slots: int = 0, prompts: list[str] = PROMPTS) -> dict[str, object]:
    """`users` streams at once (started `stagger` s apart); total tok/s and each TTFT."""
    results: list[tuple[float, float, int] | None] = [None] * users
    started = time.perf_counter()

    def run(i: int) -> None:
        results[i] = stream_once(client, cold(prompts[i % len(prompts)]), max_tokens, started)

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
    request (its native /completion takes a list), so no prompt waits for another's batch.
    The prompts are cold already: with `cache_prompt` off as well, one short prompt took 27
    ms longer than the same prompt streamed, which made the floor no floor."""
    started = time.perf_counter()
    response = httpx.post(f"{base_url}/completion", headers={"Authorization": f"Bearer {key}"},
                          json={"prompt": prompts, "n_predict": 1}, timeout=600)
    response.raise_for_status()
    body = response.json()
    assert len(body if isinstance(body, list) else [body]) == len(prompts)
    return time.perf_counter() - started


def grounded_prompts(base_url: str, key: str, size: int, count: int) -> list[str]:
    """`count` different texts of `size` tokens (the model's own), cut from the docs."""
    text = "\n\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    headers = {"Authorization": f"Bearer {key}"}
    tokens = httpx.post(f"{base_url}/tokenize", json={"content": text}, headers=headers,
                        timeout=60).json()["tokens"]
    assert len(tokens) >= size * count, "not enough text in docs/"
    return [httpx.post(f"{base_url}/detokenize", json={"tokens": tokens[i * size:(i + 1) * size]},
                       headers=headers, timeout=60).json()["content"] for i in range(count)]


def first_tokens(rounds: int, slots: int, threads: int) -> None:
    """Times to first token only (see the module's docstring): one user alone and `slots`
    at once, on each side, beside the one-batch floor, per prompt size."""
    settings = Settings(n_ctx=N_CTX, parallel=slots, threads=threads, seed=SEED)
    entry = ModelEntry(alias=ALIAS, path=MODEL, chat_format=None)
    key = secrets.token_urlsafe(8)
    ports = {side: free_port() for side in ("a", "b", "b0")}
    env = {"MODELS_DIR": str(MODEL.parent), "LLM_N_CTX": str(N_CTX),
           "LLM_PARALLEL": str(slots), "LLM_THREADS": str(threads), "LLM_SEED": str(SEED)}
    sizes: dict[str, list[str]] = {"short": PROMPTS[:slots]}
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "t.jinja"
        template.write_text(TEMPLATE)
        anchor_cmd = server_command(server_binary(), settings, entry, ports["a"], template)
        anchor_url = f"http://127.0.0.1:{ports['a']}"
        with (
            running(anchor_cmd, f"{anchor_url}/health", server_environment(key), log=QUIET,
                    timeout=READY_S),
            running([sys.executable, "-m", "llmserver"], f"http://127.0.0.1:{ports['b']}/health",
                    {**env, "LLMSERVER_PORT": str(ports["b"])}, log=QUIET, timeout=READY_S),
            running([sys.executable, "-m", "llmserver"],
                    f"http://127.0.0.1:{ports['b0']}/health",
                    {**env, "LLMSERVER_PORT": str(ports["b0"]), "LLM_HOLD_MS": "0"},
                    log=QUIET, timeout=READY_S),
        ):
            clients = {side: openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1",
                                           api_key=key if side == "a" else "unused",
                                           max_retries=0, timeout=600)
                       for side, port in ports.items()}
            for tokens in (400, 900):
                sizes[f"~{tokens}"] = grounded_prompts(anchor_url, key, tokens, slots)
            for client in clients.values():  # warm-up
                concurrent(client, 1, 1)
            load = os.getloadavg()[0]
            sides = list(clients)
            for round_ in range(rounds):
                # Each side in turn first, so that none always follows another.
                order = sides[round_ % 3:] + sides[:round_ % 3]
                for _ in range(LONE):
                    for side in order:
                        times.setdefault(("lone", side), []).append(
                            float(concurrent(clients[side], 1, 1)["ttft"][0]))
                for size, prompts in sizes.items():
                    times.setdefault((size, "floor"), []).append(
                        one_batch(anchor_url, key, [cold(p) for p in prompts]))
                    times.setdefault((size, "one"), []).append(
                        one_batch(anchor_url, key, [cold(prompts[0])]))
                    for side in order:
                        times.setdefault((size, side), []).append(
                            max(concurrent(clients[side], slots, 1, prompts=prompts)["ttft"]))

    median = {key: statistics.median(values) for key, values in times.items()}
    print(f"model {MODEL.name}, {threads} threads, {slots} slots x {N_CTX} tokens, first tokens "
          f"only, {rounds} rounds (medians); b: llmserver (LLM_HOLD_MS {Settings().hold_ms:g}), "
          f"b0: LLM_HOLD_MS=0; load average {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"one user alone, short prompt ({rounds * LONE} each): "
          + ", ".join(f"({side}) {median['lone', side] * 1000:.1f} ms" for side in sides)
          + f"; the hold's cost b - b0: {(median['lone', 'b'] - median['lone', 'b0']) * 1000:+.1f}"
          " ms")
    for size in sizes:
        floor = median[size, "floor"]
        print(f"{size} prompts, {slots} at once: floor ({slots} in one request) {floor:.3f} s "
              f"(1 prompt {median[size, 'one']:.3f} s); slowest first token "
              + ", ".join(f"({side}) {median[size, side]:.3f} s = {median[size, side] / floor:.2f}"
                          for side in sides)
              + " x floor")


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
    parser.add_argument("--first-tokens", action="store_true",
                        help="only times to first token, with and without llmserver's hold")
    args = parser.parse_args()
    if args.first_tokens:
        first_tokens(args.rounds, args.slots, args.threads)
        return

    settings = Settings(n_ctx=N_CTX, parallel=args.slots, threads=args.threads, seed=SEED)
    entry = ModelEntry(alias=ALIAS, path=MODEL, chat_format=None)
    key = secrets.token_urlsafe(8)
    anchor_port, ours_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "t.jinja"
        template.write_text(TEMPLATE)
        anchor_cmd = server_command(server_binary(), settings, entry, anchor_port, template)
        ours_env = {"LLMSERVER_PORT": str(ours_port), "MODELS_DIR": str(MODEL.parent),
                    "LLM_N_CTX": str(N_CTX), "LLM_PARALLEL": str(args.slots),
                    "LLM_THREADS": str(args.threads), "LLM_SEED": str(SEED)}
        with (
            running(anchor_cmd, f"http://127.0.0.1:{anchor_port}/health",
                    server_environment(key), log=QUIET, timeout=READY_S) as anchor,
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
    anchor_worst = max(statistics.median(float(r["ttft"][i])  # type: ignore[index]
                                         for r in runs["a"][4]) for i in range(4))
    print(f"4 streams, slowest TTFT / the one-batch floor: (b) llmserver {worst / four:.2f}, "
          f"(a) anchor {anchor_worst / four:.2f}")


if __name__ == "__main__":
    main()
