"""`chatbot jobs` and `chatbot jobs cancel JOB`: the ingestion jobs of a running chatbot,
every user's, listed or cancelled from its host through the routes of web/operator.py, with
the token the server keeps in DATA_DIR."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import httpx

from chatbot.settings import from_environment
from chatbot.web.operator import TOKEN_FILE


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="chatbot jobs",
        description="The ingestion jobs of a running chatbot, every user's: list them, or "
        "cancel one. Run on the chatbot's host, with its DATA_DIR (the token is read from "
        "DATA_DIR/operator_token).")
    top.add_argument("--url", help="the chatbot instance (default: http://127.0.0.1:"
                     "CHATBOT_PORT, or CHATBOT_HOST when it is a single address)")
    commands = top.add_subparsers(dest="command")
    cancel_job = commands.add_parser("cancel", help="cancel a queued or running job")
    cancel_job.add_argument("job", metavar="JOB", help="its id, as `chatbot jobs` lists it")
    return top


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    settings = from_environment("chatbot jobs")
    if settings is None:
        return 2
    token_path = settings.data_dir / TOKEN_FILE
    try:
        token = token_path.read_text().strip()
    except OSError as exc:
        print(f"chatbot jobs: error: cannot read {token_path} ({exc.strerror}): is DATA_DIR "
              "the running chatbot's, and has it started once?", file=sys.stderr)
        return 2
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = (args.url or f"http://{host}:{settings.port}").rstrip("/")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        if args.command == "cancel":
            reply = httpx.post(f"{url}/operator/jobs/cancel", json={"job": args.job},
                               headers=headers, timeout=10)
        else:
            reply = httpx.get(f"{url}/operator/jobs", headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        print(f"chatbot jobs: error: no chatbot answering at {url} ({exc}); is it running? "
              "(--url)", file=sys.stderr)
        return 1
    if reply.status_code == 401:
        print(f"chatbot jobs: error: {url} refused the token in {token_path}: it is another "
              "instance's DATA_DIR", file=sys.stderr)
        return 1
    body = _json(reply)
    if reply.status_code != 200:
        print(f"chatbot jobs: error: {body.get('error') or reply.text[:200]}", file=sys.stderr)
        return 1
    if args.command == "cancel":
        print(f"Cancelled {args.job}.")
    else:
        print(table(body.get("jobs", [])))
    return 0


def _json(reply: httpx.Response) -> dict[str, object]:
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def table(jobs: list[dict[str, object]]) -> str:
    if not jobs:
        return "No ingestion jobs queued or running."
    rows = [("JOB", "STATE", "USER", "COLLECTION", "SOURCES")]
    for job in jobs:
        names = [str(n) for n in job.get("names") or []]  # type: ignore[union-attr]
        sources = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
        rows.append((str(job.get("job")), str(job.get("state")), str(job.get("user") or "-"),
                     str(job.get("collection")), sources))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
             + "  " + row[4] for row in rows]
    return "\n".join(lines)
