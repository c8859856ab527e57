"""Start-up and memory: a `rag query` end to end, a chatbot from start to `/healthz` 200, and
an idle chatbot's resident memory after it has answered one question with RAG on.

Every process runs the code of `--tree` (default: this checkout), so an older commit checked
out elsewhere (`git worktree add /tmp/before <commit>`) is measured the same way, with the
same virtualenv and the same exported embedding model:

    .venv/bin/python bench/startup.py [--runs 5] [--tree /tmp/before]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.processes import free_port, llmserver, stop, wait_for  # noqa: E402
from harness.socketclient import ChatClient  # noqa: E402

QUESTION = "How do I run the tests of one file?"
COLLECTION = "startup-bench"


def run(tree: Path, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of `python -m <args>` run from `tree`."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=tree, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def chatbot_start(tree: Path, env: dict[str, str]) -> float:
    """Seconds from starting `python -m chatbot` to its `/healthz` answering 200."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "chatbot"], cwd=tree,
                            env={**os.environ, **env, "CHATBOT_PORT": str(port)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", proc, timeout=300)
        return time.perf_counter() - started
    finally:
        stop(proc)


def rss_after_one_rag_answer(tree: Path, env: dict[str, str], llm: str) -> float:
    """VmRSS (MB) of an idle chatbot that has answered one question with RAG on."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "chatbot"], cwd=tree,
                            env={**os.environ, **env, "CHATBOT_PORT": str(port),
                                 "LLM_BASE_URL": f"{llm}/v1", "CHAT_MAX_TOKENS": "16"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz", proc, timeout=300)
        with ChatClient(base) as client:
            start = client.emit("settings", {"rag": True, "rag_collection": COLLECTION})
            client.wait("settings", since=start, timeout=60)
            # The first question may find the embedding model still loading (RAG_TIMEOUT
            # then answers without passages): ask until an answer has its sources.
            for _ in range(5):
                start = client.emit("message", {"text": QUESTION})
                done = client.wait("done", "error", since=start, timeout=300)
                if done[1] != "done":
                    raise SystemExit(f"the answer failed: {done}")
                if done[2].get("sources"):
                    break
                time.sleep(5)
            else:
                raise SystemExit("no answer had sources")
        time.sleep(2)  # idle: the answer's threads have finished
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise SystemExit("no VmRSS")
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tree", type=Path, default=ROOT)
    args = parser.parse_args()
    tree = args.tree.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        # The export made by `make install`, shared: its cost is not what is measured here.
        (data / "models").symlink_to((ROOT / "data" / "models").resolve())
        env = {"DATA_DIR": str(data), "CHATBOT_HOST": "127.0.0.1",
               "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}
        wall, peak = run(tree, ["rag", "ingest", "--collection", COLLECTION,
                                str(ROOT / "README.md"), str(ROOT / "docs")], env)
        print(f"tree {tree}; ingest of README.md and docs/: {wall:.1f} s, {peak:.0f} MB")
        queries = [run(tree, ["rag", "query", "--collection", COLLECTION, QUESTION], env)
                   for _ in range(args.runs)]
        starts = [chatbot_start(tree, env) for _ in range(args.runs)]
        with llmserver(log=Path(os.devnull)) as llm:
            rss = rss_after_one_rag_answer(tree, env, llm)
    query_s = statistics.median(q[0] for q in queries)
    query_mb = statistics.median(q[1] for q in queries)
    print(f"rag query end to end:              median {query_s:5.2f} s   "
          f"peak RSS {query_mb:4.0f} MB   ({args.runs} runs)")
    print(f"chatbot start to /healthz 200:     median {statistics.median(starts):5.2f} s"
          f"   ({args.runs} runs)")
    print(f"idle chatbot after one RAG answer: VmRSS {rss:4.0f} MB")


if __name__ == "__main__":
    main()
