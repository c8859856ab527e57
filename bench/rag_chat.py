"""What RAG adds to the time to first token in the chat: the same question with RAG off (a)
and on (b), through the chatbot over Socket.IO, median of N rounds each, alternating.

The added TTFT is split in two: retrieval itself (the chatbot's own
`chatbot_retrieval_seconds` from /metrics: query embedding, BM25, HNSW, fusion) and the rest,
which is mostly the model reading the longer prompt (prompt processing of the passages) plus
counting their tokens. The corpus is small and made on the spot (ingested through the upload
endpoint, like a user would); every round is a fresh conversation at temperature 0.

    .venv/bin/python bench/rag_chat.py [--rounds 5] [--k 4] [--documents 40]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from harness.processes import chatbot, llmserver  # noqa: E402
from harness.socketclient import ChatClient  # noqa: E402
from harness.uploads import SHARED_MODELS, finished, upload  # noqa: E402

QUESTION = "What colour is the Zorblax lighthouse on Quimby island?"
ANSWER_DOC = ("lighthouse.md", b"# Zorblax lighthouse\n\nThe Zorblax lighthouse on Quimby "
              b"island is painted bright violet and stands 43 metres tall. Its lamp was "
              b"first lit in 1891 and can be seen from 30 kilometres away on a clear night.")
TOPICS = ["bakery", "railway", "museum", "harbour", "orchard", "library", "observatory",
          "brewery", "garden", "bridge"]


def corpus(documents: int) -> list[tuple[str, bytes]]:
    """The answering document among `documents - 1` plausible distractors."""
    files = [ANSWER_DOC]
    for i in range(documents - 1):
        topic = TOPICS[i % len(TOPICS)]
        text = (f"# The {topic} of town {i}\n\n" + " ".join(
            f"The {topic} of town {i} opened in {1800 + i * 3 + j} and has {j + 2} rooms, "
            f"{j * 7 + i} staff and a {['red', 'green', 'blue'][j % 3]} door." for j in range(12)))
        files.append((f"{topic}-{i}.md", text.encode()))
    return files


def retrieval_seconds(base: str) -> tuple[float, float]:
    """(sum, count) of the chatbot's retrieval histogram."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    total = re.search(r"^chatbot_retrieval_seconds_sum (\S+)$", text, re.M)
    count = re.search(r"^chatbot_retrieval_seconds_count (\S+)$", text, re.M)
    return (float(total.group(1)) if total else 0.0, float(count.group(1)) if count else 0.0)


def ask(client: ChatClient, rag: bool) -> tuple[float, int, int]:
    """(TTFT in s, prompt tokens, sources) for QUESTION in a fresh conversation."""
    client.wait("history", since=client.emit("reset", {}))
    client.wait("settings", since=client.emit("settings", {"rag": rag,
                                                           "rag_collection": "bench"}))
    start = client.send(QUESTION)
    sent = time.perf_counter()
    _, event, done = client.wait("done", "error", since=start)
    if event != "done":
        raise SystemExit(f"chatbot answered with an error: {done}")
    first = client.wait("token", since=start)[0]
    return first - sent, done["usage"]["prompt_tokens"], len(done["sources"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--documents", type=int, default=40)
    args = parser.parse_args()

    off: list[tuple[float, int, int]] = []
    on: list[tuple[float, int, int]] = []
    retrieval: list[float] = []
    with tempfile.TemporaryDirectory() as data:
        SHARED_MODELS.mkdir(parents=True, exist_ok=True)
        (Path(data) / "models").symlink_to(SHARED_MODELS, target_is_directory=True)
        with llmserver(LLM_N_CTX="4096") as llm_url, \
                chatbot(llm_url, Path(data), CHAT_MAX_TOKENS="8", CHAT_TEMPERATURE="0",
                        RAG_K=str(args.k)) as url, ChatClient(url) as client:
            summary = finished(client, upload(client, corpus(args.documents)[:10], "bench"))
            for start in range(10, args.documents, 10):
                finished(client, upload(client, corpus(args.documents)[start:start + 10],
                                        "bench"))
            print(f"corpus: {args.documents} documents, first upload: {summary['text']}")
            # Warm-up: the embedding model's first load and the first prompts count for neither.
            ask(client, rag=False)
            ask(client, rag=True)
            for _ in range(args.rounds):
                off.append(ask(client, rag=False))
                before = retrieval_seconds(url)
                on.append(ask(client, rag=True))
                after = retrieval_seconds(url)
                retrieval.append((after[0] - before[0]) / max(1.0, after[1] - before[1]))

    def med(samples: list[tuple[float, int, int]], i: int) -> float:
        return statistics.median(s[i] for s in samples)

    ttft_off, ttft_on = med(off, 0) * 1000, med(on, 0) * 1000
    added = ttft_on - ttft_off
    retrieval_ms = statistics.median(retrieval) * 1000
    extra_tokens = med(on, 1) - med(off, 1)
    print(f"k={args.k}, median of {args.rounds} rounds each, temperature 0")
    print(f"(a) RAG off   TTFT {ttft_off:7.1f} ms   prompt {med(off, 1):5.0f} tokens")
    print(f"(b) RAG on    TTFT {ttft_on:7.1f} ms   prompt {med(on, 1):5.0f} tokens   "
          f"{med(on, 2):.0f} sources")
    print(f"added TTFT b-a: {added:+.1f} ms (ratio b/a {ttft_on / ttft_off:.2f})")
    print(f"  retrieval itself: {retrieval_ms:.1f} ms ({retrieval_ms / added:.0%} of the added)")
    rest = added - retrieval_ms
    print(f"  prompt processing of +{extra_tokens:.0f} tokens and counting them: {rest:.1f} ms "
          f"({rest / added:.0%} of the added, {rest / max(extra_tokens, 1):.2f} ms per token)")


if __name__ == "__main__":
    main()
