"""Load on the real stack: many Socket.IO clients at once against llmserver (default model)
and one chatbot under gunicorn (the production command), on loopback; bounded, stops by
itself.

Part 1, `--clients` (50) users each hold a `--turns` (3)-turn conversation, all starting at
once, twice (`--runs`). Every message must end in `done` or a readable `error`; a message
that gets neither within `--timeout` is lost; a token, `done` or history entry belonging to
another client is crossed (each question carries its client's tag, and each client's stored
history is read back at the end). Reports time to first token p50/p95, the longest wait for
a slot, errors, lost, crossed, and the chatbot's resident memory after each run.

Part 2, `--idle` (200) connected clients that send nothing, and `--active` (5) clients
asking at once: the active clients' tokens/s with the idle ones connected over without,
alternated `--pairs` (4) times, and the chatbot's CPU while nobody asks, with and without the
idle clients. `--runs 0` runs part 2 alone, `--idle 0` part 1 alone.

    .venv/bin/python bench/load.py [--clients 50] [--turns 3] [--runs 2] [--idle 200]
                                   [--active 5] [--pairs 4] [--max-tokens 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import socketio  # noqa: E402

from harness.processes import PROCESSES, chatbot_instances, children, llmserver  # noqa: E402

QUESTIONS = ["What is the capital of France?", "Name a primary colour.",
             "How many legs does a spider have?"]


@dataclass
class Client:
    """One user: a browser's cookie and a Socket.IO connection on the shared event loop."""

    tag: str
    base_url: str
    sio: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient(
        reconnection=False))
    events: list[tuple[float, str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    cookie: str = ""

    async def connect(self) -> None:
        async with browser() as http:
            response = await http.get(f"{self.base_url}/")
        response.raise_for_status()
        self.cookie = "; ".join(f"{k}={v}" for k, v in response.cookies.items())

        async def record(event: str, data: Any = None) -> None:
            self.events.append((time.perf_counter(), event, data))
            self.arrived.set()

        self.sio.on("*", record)
        await self.sio.connect(self.base_url, headers={"Cookie": self.cookie},
                               transports=["websocket"], wait_timeout=60)
        await self.wait({"history"}, 0, 60)

    async def wait(self, names: set[str], since: int, timeout: float
                   ) -> tuple[float, str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[since:]:
                if event[1] in names:
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout=left)
            except TimeoutError:
                return None

    async def ask(self, text: str, timeout: float) -> dict[str, Any]:
        start = len(self.events)
        sent = time.perf_counter()
        await self.sio.emit("message", {"text": text})
        end = await self.wait({"done", "error"}, start, timeout)
        got = self.events[start:]
        tokens = [t for t, name, _ in got if name == "token"]
        generating = next((t for t, name, d in got if name == "status"
                           and d.get("state") == "generating"), None)
        text_seen = "".join(d["text"] for _, name, d in got if name == "token")
        return {"end": None if end is None else end[1], "data": None if end is None else end[2],
                "ttft": tokens[0] - sent if tokens else None,
                "wait": generating - sent if generating else None,
                "rate": (len(tokens) - 1) / (tokens[-1] - tokens[0]) if len(tokens) > 2
                else None, "text": text_seen}


def browser() -> httpx.AsyncClient:
    """A browser of its own for each client: its own cookie jar (a shared one would make
    every later client another tab of the first one's browser, following its answers) and
    its own connection."""
    return httpx.AsyncClient(timeout=60)


def rss_mb(pid: int) -> float:
    """Resident memory of gunicorn's master and its worker (where the app lives)."""
    total = 0
    for process in [pid, *children(pid)]:
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


async def conversations(base: str, clients: int, turns: int, timeout: float
                        ) -> dict[str, Any]:
    """Part 1, one run: every client's conversation at once."""
    users = [Client(f"u{i:03d}", base) for i in range(clients)]
    await asyncio.gather(*(u.connect() for u in users))

    async def converse(user: Client) -> list[dict[str, Any]]:
        return [await user.ask(f"[{user.tag}] {QUESTIONS[t % len(QUESTIONS)]}", timeout)
                for t in range(turns)]

    results = await asyncio.gather(*(converse(u) for u in users))
    crossed = 0
    for user, answers in zip(users, results, strict=True):
        others = [u.tag for u in users if u is not user]
        crossed += sum(any(f"[{tag}]" in a["text"] for tag in others) for a in answers)
        # Read the stored conversation back, as a reload would.
        again = Client(user.tag, base)
        again.cookie = user.cookie
        history_at = len(again.events)

        async def record(event: str, data: Any = None, client: Client = again) -> None:
            client.events.append((time.perf_counter(), event, data))
            client.arrived.set()

        again.sio.on("*", record)
        await again.sio.connect(base, headers={"Cookie": user.cookie},
                                transports=["websocket"], wait_timeout=60)
        history = await again.wait({"history"}, history_at, 60)
        await again.sio.disconnect()
        questions = [m["content"] for m in (history[2]["messages"] if history else [])
                     if m["role"] == "user"]
        if any(not q.startswith(f"[{user.tag}]") for q in questions):
            crossed += 1
    await asyncio.gather(*(u.sio.disconnect() for u in users))
    flat = [a for answers in results for a in answers]
    return {"answers": flat, "crossed": crossed}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of gunicorn's master and worker so far."""
    ticks = 0
    for process in [pid, *children(pid)]:
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


async def idle_and_active(base: str, pid: int, idle: int, active: int, max_tokens: int,
                          pairs: int, timeout: float) -> dict[str, Any]:
    """Part 2: the active clients' median tokens/s alone and with idle clients connected,
    alternated `pairs` times so that drift (heat, other load) falls on both sides alike; and
    what the idle clients cost the chatbot in CPU while nobody asks anything."""
    askers = [Client(f"a{i}", base) for i in range(active)]
    await asyncio.gather(*(a.connect() for a in askers))
    for a in askers:
        await a.sio.emit("settings", {"max_tokens": max_tokens})

    async def round_rate() -> float:
        answers = await asyncio.gather(*(a.ask("Continue counting: 1, 2, 3, 4, 5, 6,",
                                               timeout) for a in askers))
        rates = [a["rate"] for a in answers if a["rate"]]
        return statistics.median(rates) if rates else 0.0

    async def idle_cpu(seconds: float = 10.0) -> float:
        """Share of one core the chatbot spends while no one asks anything."""
        before = cpu_seconds(pid)
        await asyncio.sleep(seconds)
        return (cpu_seconds(pid) - before) / seconds

    await round_rate()  # warm-up
    alone: list[float] = []
    crowded: list[float] = []
    cpu_alone: list[float] = []
    cpu_crowded: list[float] = []
    for _ in range(pairs):
        cpu_alone.append(await idle_cpu())
        alone.append(await round_rate())
        sleepers = [Client(f"i{i:03d}", base) for i in range(idle)]
        for start in range(0, idle, 25):  # connect in waves, as a morning's users do
            await asyncio.gather(*(s.connect()
                                   for s in sleepers[start:start + 25]))
        cpu_crowded.append(await idle_cpu())
        crowded.append(await round_rate())
        await asyncio.gather(*(s.sio.disconnect() for s in sleepers))
    await asyncio.gather(*(a.sio.disconnect() for a in askers))
    return {"alone": alone, "crowded": crowded, "cpu_alone": statistics.median(cpu_alone),
            "cpu_crowded": statistics.median(cpu_crowded)}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--active", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=4,
                        help="alone/with-idle alternations in part 2")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds a message may take before it counts as lost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, llmserver() as llm_url, \
            chatbot_instances(llm_url, Path(tmp), 1, CHAT_MAX_TOKENS=str(args.max_tokens),
                              USER_MESSAGES_PER_MINUTE="0",
                              # Every client here comes from 127.0.0.1.
                              MAX_SOCKETS_PER_ADDRESS="0") as (base,):
        print(f"stack: llmserver (default model) + 1 chatbot under gunicorn; "
              f"{args.clients} clients x {args.turns} turns, answers of {args.max_tokens} "
              f"tokens, {args.runs} runs")
        # One event loop for everything: the clients' HTTP sessions live as long as it does.
        asyncio.run(run_all(args, base, PROCESSES[base].pid))


async def run_all(args: argparse.Namespace, base: str, pid: int) -> None:
    memory = [rss_mb(pid)]
    for run in range(1, args.runs + 1):
        started = time.perf_counter()
        result = await conversations(base, args.clients, args.turns, args.timeout)
        answers = result["answers"]
        done = [a for a in answers if a["end"] == "done"]
        errors = [a for a in answers if a["end"] == "error"]
        lost = [a for a in answers if a["end"] is None]
        ttfts = [a["ttft"] for a in done if a["ttft"] is not None]
        waits = [a["wait"] for a in answers if a["wait"] is not None]
        memory.append(rss_mb(pid))
        print(f"run {run}: {len(answers)} messages in {time.perf_counter() - started:.0f} s: "
              f"{len(done)} done, {len(errors)} errors, {len(lost)} lost, "
              f"{result['crossed']} crossed; TTFT p50 {statistics.median(ttfts):.1f} s, "
              f"p95 {percentile(ttfts, 0.95):.1f} s; longest wait for a slot "
              f"{max(waits):.1f} s; chatbot RSS {memory[-1]:.0f} MB", flush=True)
        for a in errors[:3]:
            print(f"  error: {a['data']}")
    print(f"chatbot RSS: before {memory[0]:.0f} MB, after each run "
          + ", ".join(f"{m:.0f}" for m in memory[1:]) + " MB")
    if args.idle:
        await idle_part(args, base, pid)


async def idle_part(args: argparse.Namespace, base: str, pid: int) -> None:
    found = await idle_and_active(base, pid, args.idle, args.active, max(args.max_tokens, 32),
                                  args.pairs, args.timeout)
    alone, crowded = statistics.median(found["alone"]), statistics.median(found["crowded"])
    print(f"{args.active} active clients, {args.pairs} alternations: tok/s alone "
          + ", ".join(f"{r:.1f}" for r in found["alone"]) + f"; with {args.idle} idle "
          "clients " + ", ".join(f"{r:.1f}" for r in found["crowded"])
          + f"; medians {alone:.1f} / {crowded:.1f}: ratio {crowded / alone:.2f}")
    print(f"chatbot CPU while nobody asks: {found['cpu_alone']:.1%} of a core alone, "
          f"{found['cpu_crowded']:.1%} with {args.idle} idle clients; chatbot RSS "
          f"{rss_mb(pid):.0f} MB")

if __name__ == "__main__":
    main()
