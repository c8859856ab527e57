"""Streaming through the chatbot: llmserver via the openai client (a) vs the chatbot via a
python-socketio client (b, and c: a second chatbot sending every token as its own event), and
time to first token at turn 1 vs turn 10 of one conversation.

Same prompt, temperature 0 and max_tokens for (a) and (b); they alternate round by round in
one run, so machine noise hits both alike. Every (b) round is a fresh conversation, so (a)
and (b) send llmserver the same messages. Prints tokens/s and time to first token for each,
the ratio b/a, the added TTFT, and the turn-10/turn-1 TTFT ratio (the llama.cpp prefix cache
must be reused across turns for it to stay near 1).

    .venv/bin/python bench/chat_stream.py [--rounds 21] [--max-tokens 128] [--turns 10]
                                          [--conversations 6]

With `--users N`: N browsers hold a conversation each at the same time (all N ask their
first question at once), against one user alone. Prints every user's time to first token
over the lone user's, and turn 10 over turn 1 while the other conversations run (llama-server
must keep each conversation's prefix in its own slot for it to stay near 1).

    .venv/bin/python bench/chat_stream.py --users 4 [--turns 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import openai  # noqa: E402
import socketio  # noqa: E402

from harness.processes import chatbot, llmserver  # noqa: E402
from harness.socketclient import page_cookie  # noqa: E402

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


class BrowserLikeClient:
    """python-socketio's asyncio client, on one event-loop thread as a browser has.

    The threaded `socketio.Client` (the tests' ChatClient) starts a new thread for every
    event it receives: two extra thread wake-ups per `token` event, on the same two cores as
    llama.cpp, that a browser's event loop does not cost and the chatbot is not to blame for.
    """

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[float, str, Any]] = []
        self.arrived: asyncio.Event | None = None
        self.sio.on("*", self._record)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.append((time.perf_counter(), event, data))
        if event != "token" and self.arrived is not None:
            self.arrived.set()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=300)

    def __enter__(self) -> BrowserLikeClient:
        cookie = page_cookie(self.base_url)

        async def connect() -> None:
            self.arrived = asyncio.Event()
            await self.sio.connect(self.base_url, headers={"Cookie": cookie},
                                   transports=["websocket"], wait_timeout=10)
            await self._wait("history", 0)

        self.run(connect())
        return self

    def __exit__(self, *_: object) -> None:
        self.run(self.sio.disconnect())
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _wait(self, name: str, since: int) -> tuple[float, str, Any]:
        assert self.arrived is not None
        while True:
            for event in self.events[since:]:
                if event[1] in (name, "error"):
                    return event
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), timeout=120)

    async def _emit(self, event: str, payload: Any, until: str) -> tuple[int, float, Any]:
        start = len(self.events)
        await self.sio.emit(event, payload)
        sent = time.perf_counter()
        _, name, data = await self._wait(until, start)
        if name == "error":
            raise SystemExit(f"chatbot answered with an error: {data}")
        return start, sent, data

    def emit(self, event: str, payload: Any, until: str) -> Any:
        return self.run(self._emit(event, payload, until))[2]

    def answer(self, text: str, fresh: bool) -> tuple[Sample, int]:
        """One answer; also the number of `token` events it took."""
        if fresh:
            self.emit("reset", {}, "history")
        start, sent, done = self.run(self._emit("message", {"text": text}, "done"))
        stamps = [t for t, name, _ in self.events[start:] if name == "token"]
        tokens = done["usage"]["completion_tokens"]
        rate = (tokens - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
        return (stamps[0] - sent, rate, tokens), len(stamps)


def together(chat_url: str, users: int, turns: int, rounds: int) -> None:
    """`users` conversations at once vs one alone; see the module's docstring."""
    clients = [BrowserLikeClient(chat_url) for _ in range(users)]
    for client in clients:
        client.__enter__()
        client.emit("settings", {"max_tokens": 24}, "settings")
    alone = []
    for r in range(rounds + 1):
        sample = clients[0].answer(QUESTIONS[r % len(QUESTIONS)], fresh=True)[0]
        if r:  # the first is a warm-up
            alone.append(sample[0])
    ttft_alone = statistics.median(alone)
    # per_turn[i][u]: user u's time to first token at turn i + 1
    per_turn = [[0.0] * users for _ in range(turns)]
    start = threading.Barrier(users)

    def converse(u: int) -> None:
        clients[u].emit("reset", {}, "history")
        start.wait()
        for i in range(turns):
            sample = clients[u].answer(QUESTIONS[(u + i) % len(QUESTIONS)], fresh=False)[0]
            per_turn[i][u] = sample[0]

    threads = [threading.Thread(target=converse, args=(u,)) for u in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for client in clients:
        client.__exit__()
    print(f"model {ALIAS}, {users} users at once, {turns} turns of 24-token answers")
    print(f"one user alone: TTFT {ttft_alone * 1000:.0f} ms (median of {rounds})")
    first = per_turn[0]
    print("turn 1, all asking at once: TTFT " + " / ".join(f"{t * 1000:.0f}" for t in first)
          + f" ms; slowest / alone: {max(first) / ttft_alone:.2f}")
    medians = [statistics.median(t) for t in per_turn]
    print(f"TTFT per turn, median of the {users} users (ms): "
          + ", ".join(f"{t * 1000:.0f}" for t in medians))
    print(f"turn {turns} / turn 1 TTFT, others running: {medians[-1] / medians[0]:.2f}")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def chatbot_cpu(chat_url: str) -> float:
    """CPU seconds the chatbot process has used, from its Prometheus metrics."""
    for line in httpx.get(f"{chat_url}/metrics", timeout=10).text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            return float(line.split()[1])
    raise SystemExit("the chatbot's /metrics has no process_cpu_seconds_total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--conversations", type=int, default=6)
    parser.add_argument("--users", type=int, default=1)
    args = parser.parse_args()
    if args.users > 1:
        with tempfile.TemporaryDirectory() as data, llmserver(LLM_N_CTX="4096") as llm_url, \
                chatbot(llm_url, Path(data), CHAT_TEMPERATURE="0",
                        USER_MESSAGES_PER_MINUTE="0") as chat_url:
            together(chat_url, args.users, args.turns, min(args.rounds, 5))
        return

    results: dict[str, list[Sample]] = {"a": [], "b": [], "c": []}
    events = {"b": 0, "c": 0}
    cpu = {"b": 0.0, "c": 0.0}
    client_cpu = {"a": 0.0, "b": 0.0, "c": 0.0}  # this process: the clients' own work
    gaps: list[float] = []
    # One browser asks far more than a person would: no per-user message limit.
    answers = {"CHAT_MAX_TOKENS": str(args.max_tokens), "CHAT_TEMPERATURE": "0",
               "USER_MESSAGES_PER_MINUTE": "0"}
    with tempfile.TemporaryDirectory() as data, llmserver(LLM_N_CTX="4096") as llm_url, \
            chatbot(llm_url, Path(data) / "b", **answers) as chat_url, \
            chatbot(llm_url, Path(data) / "c", CHAT_STREAM_INTERVAL_MS="0",
                    **answers) as each_url:
        api = openai.OpenAI(base_url=f"{llm_url}/v1", api_key="unused", max_retries=0)
        with BrowserLikeClient(chat_url) as client, BrowserLikeClient(each_url) as each:
            # Warm-up all so first-call setup counts for none.
            direct(api, 8)
            client.answer(PROMPT, fresh=True)
            each.answer(PROMPT, fresh=True)
            for _ in range(args.rounds):
                mine = own_cpu()
                results["a"].append(direct(api, args.max_tokens, gaps))
                client_cpu["a"] += own_cpu() - mine
                for name, url, sio in (("b", chat_url, client), ("c", each_url, each)):
                    cpu_before = chatbot_cpu(url)
                    mine = own_cpu()
                    sample, n_events = sio.answer(PROMPT, fresh=True)
                    client_cpu[name] += own_cpu() - mine
                    cpu[name] += chatbot_cpu(url) - cpu_before
                    results[name].append(sample)
                    events[name] += n_events

            # Several conversations, so each turn's TTFT is a median, not one noisy sample.
            turns: list[list[float]] = [[] for _ in range(args.turns)]
            # Each conversation starts on another question: llama.cpp keeps only the last
            # prompt, so repeating a first question would make turn 1 an unfair full hit.
            for c in range(args.conversations):
                client.emit("reset", {}, "history")
                client.emit("settings", {"max_tokens": 24}, "settings")
                for i in range(args.turns):
                    sample = client.answer(QUESTIONS[(c + i) % len(QUESTIONS)], fresh=False)[0]
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
    print("client CPU per token (this process): " + ", ".join(
        f"({name}) {client_cpu[name] / sum(r[2] for r in results[name]) * 1e6:.0f} µs"
        for name in "abc"))
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
