"""What grounding adds to the time to first token in the chat: questions with RAG off (a) and
on (b), through the chatbot over Socket.IO, alternating round by round in one run; then
`--users N` grounded questions sent at the same moment by N browsers.

The documents are the Zsh manual (bench/zsh_corpus.py, ingested once under build/bench/zsh)
and the questions those of bench/zsh_answers.json, a different one each round (so that no
round reuses the previous round's cached prompt). Every round is a fresh conversation at
temperature 0. For a grounded answer two times are given: the first token the browser
receives (the quoted sentence, shown as soon as retrieval is done, when RAG_ANSWER puts one
first) and the first token of the model's own text. Retrieval itself is the chatbot's
`chatbot_retrieval_seconds` (query embedding, BM25, HNSW, fusion, sentence scoring).

    .venv/bin/python bench/rag_chat.py [--rounds 11] [--users 4] [--max-tokens 32]

Targets (issue 23): median first token of a grounded answer ≤ 0.8 s; with 4 users asking at
once, the slowest first token ≤ 3× one grounded user's.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench import zsh_corpus  # noqa: E402
from bench.rag_answers import collection_dir, fresh, timed  # noqa: E402
from harness.processes import chatbot, llmserver  # noqa: E402
from harness.socketclient import ChatClient  # noqa: E402

Timing = tuple[float, float, int]  # first token (s), first model token (s), prompt tokens


def retrieval_seconds(base: str) -> tuple[float, float]:
    """(sum, count) of the chatbot's retrieval histogram."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    total = re.search(r"^chatbot_retrieval_seconds_sum (\S+)$", text, re.M)
    count = re.search(r"^chatbot_retrieval_seconds_count (\S+)$", text, re.M)
    return (float(total.group(1)) if total else 0.0, float(count.group(1)) if count else 0.0)


def ask(client: ChatClient, question: str) -> Timing:
    _, done, first, model = timed(client, question)
    return first, model if model is not None else float("nan"), done["usage"]["prompt_tokens"]


def med(samples: list[Timing], i: int) -> float:
    return statistics.median(s[i] for s in samples if s[i] == s[i])


def together(clients: list[ChatClient], questions: list[str]) -> list[Timing]:
    """Each client asks its question at the same moment."""
    for client in clients:
        fresh(client, rag=True)
    barrier = threading.Barrier(len(clients))
    out: list[Timing | None] = [None] * len(clients)

    def one(i: int) -> None:
        barrier.wait()
        out[i] = ask(clients[i], questions[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [t for t in out if t is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--max-tokens", default="32")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the chatbot, e.g. RAG_FOCUS_TOKENS=200")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)

    items = json.loads((ROOT / "bench" / "zsh_answers.json").read_text())
    questions = [i["question"] for i in items if i.get("kind") != "unanswerable"]
    data = collection_dir("zsh", zsh_corpus.pages())
    off: list[Timing] = []
    on: list[Timing] = []
    crowd: list[list[Timing]] = []
    alone: list[Timing] = []
    retrieval: list[float] = []
    with llmserver(LLM_N_CTX="4096") as llm_url, \
            chatbot(llm_url, data, CHAT_MAX_TOKENS=args.max_tokens, CHAT_TEMPERATURE="0",
                    RAG_MIN_EVIDENCE="-1", USER_MESSAGES_PER_MINUTE="0",
                    **extra) as url:
        clients = [ChatClient(url).connect() for _ in range(args.users)]
        try:
            # Warm-up: the embedding model's first load and the first prompts count for none.
            fresh(clients[0], rag=True)
            ask(clients[0], questions[-1])
            for round_ in range(args.rounds):
                question = questions[round_ % len(questions)]
                fresh(clients[0], rag=False)
                off.append(ask(clients[0], question))
                before = retrieval_seconds(url)
                fresh(clients[0], rag=True)
                on.append(ask(clients[0], question))
                after = retrieval_seconds(url)
                retrieval.append((after[0] - before[0]) / max(1.0, after[1] - before[1]))
            for round_ in range(max(3, args.rounds // 3)):
                base = 40 + round_ * (args.users + 1)
                fresh(clients[0], rag=True)
                alone.append(ask(clients[0], questions[base % len(questions)]))
                crowd.append(together(clients, [questions[(base + 1 + u) % len(questions)]
                                                for u in range(args.users)]))
        finally:
            for client in clients:
                client.close()

    print(f"median of {args.rounds} rounds, a different zsh question each, temperature 0, "
          f"{args.max_tokens} tokens")
    print(f"(a) RAG off   first token {med(off, 0) * 1000:7.0f} ms   prompt "
          f"{med(off, 2):5.0f} tokens")
    print(f"(b) RAG on    first token {med(on, 0) * 1000:7.0f} ms   model's first token "
          f"{med(on, 1) * 1000:7.0f} ms   prompt {med(on, 2):5.0f} tokens")
    print(f"    retrieval (with sentence scoring) {statistics.median(retrieval) * 1000:.0f} ms")
    lone = med(alone, 0)
    lone_model = med(alone, 1)
    slowest = statistics.median(max(t[0] for t in group) for group in crowd)
    slowest_model = statistics.median(max(t[1] for t in group) for group in crowd)
    print(f"{args.users} users at once ({len(crowd)} rounds, medians): slowest first token "
          f"{slowest * 1000:.0f} ms = {slowest / lone:.2f}x one user's ({lone * 1000:.0f} ms); "
          f"slowest model's first token {slowest_model * 1000:.0f} ms = "
          f"{slowest_model / lone_model:.2f}x ({lone_model * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
