"""The operator's view of a running chatbot, from its host: `chatbot jobs` lists the queued
and running ingestion jobs of every user, `chatbot jobs cancel JOB` stops one.

Whoever can read DATA_DIR can read every conversation already, so that is the credential:
the server keeps a random token in `DATA_DIR/operator_token` (mode 0600, in the private
DATA_DIR) and answers `/operator/...` only to a request carrying it as a bearer token. No
cookie is involved, so another site cannot make a browser send it (a custom Authorization
header needs a CORS preflight this server never grants), and the routes skip the page's
same-origin check. With several instances (REDIS_URL), each runs its own jobs: `--url`
picks the instance.

    GET  /operator/jobs          {"jobs": [{"job", "collection", "names", "state", "user"}]}
    POST /operator/jobs/cancel   JSON {"job"}: 200 {"cancelled"}, 404 {"error"}
"""

from __future__ import annotations

import argparse
import hmac
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from pydantic import ValidationError

from chatbot import datadir
from chatbot.accounts import Viewer
from chatbot.services import services
from chatbot.settings import Settings

TOKEN_FILE = "operator_token"
ENDPOINTS = frozenset(("operator.jobs", "operator.cancel"))
# Sees and cancels every user's jobs; used for nothing else.
OPERATOR = Viewer("operator", "operator", admin=True)

bp = Blueprint("operator", __name__)


def init_app(app: Flask, data_dir: Path) -> None:
    app.config["OPERATOR_TOKEN"] = datadir.stored_secret(data_dir, TOKEN_FILE,
                                                                 "the operator's token")
    app.register_blueprint(bp)


def is_operator_request() -> bool:
    """This request carries the operator's token (compared in constant time)."""
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(given) and hmac.compare_digest(given.encode(),
                                               current_app.config["OPERATOR_TOKEN"].encode())


@bp.before_request
def _operator_only() -> None:
    if not is_operator_request():
        abort(401)


@bp.get("/operator/jobs")
def jobs() -> tuple[Response, int]:
    return jsonify({"jobs": services().ingests.running_jobs(OPERATOR)}), 200


@bp.post("/operator/jobs/cancel")
def cancel() -> tuple[Response, int]:
    data = request.get_json(silent=True)
    job = data.get("job") if isinstance(data, dict) else None
    if not isinstance(job, str) or not job:
        return jsonify({"error": "Give the `job` to cancel."}), 400
    problem = services().ingests.cancel(job, OPERATOR)
    if problem:
        return jsonify({"error": problem}), 404
    return jsonify({"cancelled": job}), 200


# The command line.

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
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"chatbot jobs: error: bad configuration in the environment:\n{exc}",
              file=sys.stderr)
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
