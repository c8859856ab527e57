"""Streaming through the chatbot: llmserver via the openai client (a) vs the chatbot via a
python-socketio client (b, and c: a second chatbot sending every token as its own event), and
time to first token at turn 1 vs turn 10 of one conversation.

Same prompt, temperature 0 and max_tokens for (a) and (b); they alternate round by round in
one run, so machine noise hits both alike. Every (b) round is a fresh conversation, so (a)
and (b) send llmserver the same messages. Prints tokens/s and time to first token for each,
the ratio b/a, the added TTFT, and the turn-10/turn-1 TTFT ratio (the llama.cpp prefix cache
must be reused across turns for it to stay near 1).

    .venv/bin/python bench/chat_stream.py [--rounds 7] [--max-tokens 128] [--turns 10]
                                          [--conversations 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import openai  # noqa: E402

from tests.chatbot.client import ChatClient  # noqa: E402
from tests.servers import chatbot, llmserver  # noqa: E402

ALIAS = "gemma-3-270m-q4_k_m"
# The default base model keeps continuing this at temperature 0, so every round streams
# max_tokens and no stop sequence ends one early.
PROMPT = "Continue this sequence without stopping: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"
QUESTIONS = ["What is the capital of France?", "Name a primary colour.",
             "How many legs does a spider have?", "What is two plus two?",
             "Which planet is closest to the sun?", "What colour is the sky?",
             "What do bees make?", "How many days are in a week?",
             "What is frozen water called?", "Which animal says moo?"]

Sample = tuple[float, float, int]  # time to first token (s), tokens/s after the first, tokens


def direct(client: openai.OpenAI, max_tokens: int, gaps: list[float] | None = None) -> Sample:
    """One answer straight from llmserver; `gaps` collects the time between tokens."""
    start = time.perf_counter()
    first = last = 0.0
    count = 0
    for chunk in client.chat.completions.create(
            model=ALIAS, messages=[{"role": "user", "content": PROMPT}], max_tokens=max_tokens,
            temperature=0, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            now = time.perf_counter()
            if gaps is not None and last:
                gaps.append(now - last)
            last = now
            first = first or last
            count += 1
    return first - start, (count - 1) / (last - first), count


def through_chatbot(client: ChatClient, text: str, fresh: bool) -> tuple[Sample, int]:
    """One answer through the chatbot; also the number of `token` events it took."""
    if fresh:
        client.wait("history", since=client.emit("reset", {}))
    start_index = client.send(text)
    sent = time.perf_counter()
    _, event, done = client.wait("done", "error", since=start_index)
    if event != "done":
        raise SystemExit(f"chatbot answered with an error: {done}")
    with client._cond:
        stamps = [t for t, name, _ in client.events[start_index:] if name == "token"]
    tokens = done["usage"]["completion_tokens"]
    rate = (tokens - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return (stamps[0] - sent, rate, tokens), len(stamps)


def chatbot_cpu(chat_url: str) -> float:
    """CPU seconds the chatbot process has used, from its Prometheus metrics."""
    for line in httpx.get(f"{chat_url}/metrics", timeout=10).text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            return float(line.split()[1])
    raise SystemExit("the chatbot's /metrics has no process_cpu_seconds_total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--conversations", type=int, default=6)
    args = parser.parse_args()

    results: dict[str, list[Sample]] = {"a": [], "b": [], "c": []}
    events = {"b": 0, "c": 0}
    cpu = {"b": 0.0, "c": 0.0}
    gaps: list[float] = []
    answers = {"CHAT_MAX_TOKENS": str(args.max_tokens), "CHAT_TEMPERATURE": "0"}
    with tempfile.TemporaryDirectory() as data, llmserver(LLM_N_CTX="4096") as llm_url, \
            chatbot(llm_url, Path(data) / "b", **answers) as chat_url, \
            chatbot(llm_url, Path(data) / "c", CHAT_STREAM_INTERVAL_MS="0",
                    **answers) as each_url:
        api = openai.OpenAI(base_url=f"{llm_url}/v1", api_key="unused", max_retries=0)
        with ChatClient(chat_url) as client, ChatClient(each_url) as each:
            # Warm-up all so first-call setup counts for none.
            direct(api, 8)
            through_chatbot(client, PROMPT, fresh=True)
            through_chatbot(each, PROMPT, fresh=True)
            for _ in range(args.rounds):
                results["a"].append(direct(api, args.max_tokens, gaps))
                for name, url, sio in (("b", chat_url, client), ("c", each_url, each)):
                    cpu_before = chatbot_cpu(url)
                    sample, n_events = through_chatbot(sio, PROMPT, fresh=True)
                    cpu[name] += chatbot_cpu(url) - cpu_before
                    results[name].append(sample)
                    events[name] += n_events

            # Several conversations, so each turn's TTFT is a median, not one noisy sample.
            turns: list[list[float]] = [[] for _ in range(args.turns)]
            # Each conversation starts on another question: llama.cpp keeps only the last
            # prompt, so repeating a first question would make turn 1 an unfair full hit.
            for c in range(args.conversations):
                client.wait("history", since=client.emit("reset", {}))
                client.wait("settings", since=client.emit("settings", {"max_tokens": 24}))
                for i in range(args.turns):
                    sample = through_chatbot(client, QUESTIONS[(c + i) % len(QUESTIONS)],
                                             fresh=False)[0]
                    turns[i].append(sample[0])

    def summary(name: str, label: str) -> tuple[float, float]:
        ttft = statistics.median(r[0] for r in results[name]) * 1000
        tps = statistics.median(r[1] for r in results[name])
        tokens = statistics.median(r[2] for r in results[name])
        print(f"({name}) {label:<36} {tps:7.1f} tok/s   TTFT {ttft:6.1f} ms   "
              f"{tokens:.0f} tokens (median of {len(results[name])})")
        return tps, ttft

    print(f"model {ALIAS}, max_tokens {args.max_tokens}, temperature 0")
    tps_a, ttft_a = summary("a", "llmserver + openai client")
    tps_b, ttft_b = summary("b", "chatbot + python-socketio client")
    tps_c, ttft_c = summary("c", "same, CHAT_STREAM_INTERVAL_MS=0")
    for name, tps, ttft in (("b", tps_b, ttft_b), ("c", tps_c, ttft_c)):
        total_tokens = sum(r[2] for r in results[name])
        pairs = zip(results["a"], results[name], strict=True)
        paired = statistics.median(rb[1] / ra[1] for ra, rb in pairs)
        print(f"ratio {name}/a tokens/s: {tps / tps_a:.3f} (median of round pairs "
              f"{paired:.3f})   added TTFT: {ttft - ttft_a:+.1f} ms   token events per token: "
              f"{events[name] / total_tokens:.2f}   chatbot CPU per token: "
              f"{cpu[name] / total_tokens * 1e6:.0f} µs")
    # Coalescing tokens into one emit only pays when they arrive within a few ms of another.
    close = sum(g < 0.003 for g in gaps) / len(gaps)
    print(f"upstream gaps between tokens: median {statistics.median(gaps) * 1000:.1f} ms, "
          f"{close:.1%} under 3 ms")
    medians = [statistics.median(t) for t in turns]
    print(f"TTFT per turn, median of {args.conversations} conversations (ms): "
          + ", ".join(f"{t * 1000:.0f}" for t in medians))
    print(f"turn {args.turns} / turn 1 TTFT: {medians[-1] / medians[0]:.2f}")


if __name__ == "__main__":
    main()
