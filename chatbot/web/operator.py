"""The routes `chatbot jobs` (cli/jobs.py) calls: the operator's view of a running
chatbot's ingestion jobs, every user's, and their cancelling.

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

import hmac
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from chatbot import datadir
from chatbot.accounts.viewer import Viewer
from chatbot.services import services

TOKEN_FILE = "operator_token"
ENDPOINTS = frozenset(("operator.jobs", "operator.cancel"))
# Sees and cancels every user's jobs; used for nothing else.
OPERATOR = Viewer("operator", "operator", admin=True)

bp = Blueprint("operator", __name__)


def init_app(app: Flask, data_dir: Path) -> None:
    app.config["OPERATOR_TOKEN"] = datadir.stored_secret(
        data_dir, TOKEN_FILE, "the operator's token")
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
