"""`/healthz` and `/metrics`.

`/healthz` is liveness: it answers from this process alone, so a container is restarted only
when the chatbot itself is stuck. `/healthz?ready=1` is readiness: the LLM server, Chroma
and, with REDIS_URL, Redis each asked once, within READY_TIMEOUT_S, and a 503 naming those
that did not answer, so that an orchestrator sends no users to an instance that cannot
answer them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from flask import Response, current_app, request

from chatbot.chat.llm import LLMClient
from chatbot.documents.library import Library
from chatbot.services import services
from chatbot.web import auth
from chatbot.web.views import bp

log = logging.getLogger("chatbot.web.health")

# Each dependency's answer to a readiness check; healthchecks run every few seconds.
READY_TIMEOUT_S = 2.0


@bp.get("/healthz")
def healthz() -> Response:
    if not request.args.get("ready"):
        return _json(200, {"status": "ok", "version": current_app.config["APP_VERSION"]})
    s = services()
    checks = {"llm": _llm_ready(s.llm), "chroma": _chroma_ready(s.library)}
    redis = s.chat.bus.ready(READY_TIMEOUT_S)
    if redis is not None:
        checks["redis"] = redis
    down = [name for name, check in checks.items() if not check["reachable"]]
    if down:
        log.warning("not ready: %s", json.dumps({n: checks[n] for n in down}))
    if not _may_see_details():
        # Internal URLs and error text tell a stranger how the deployment is built: they
        # get the verdict only (the details are in the log line above).
        checks = {name: {"reachable": True} if check["reachable"] else
                  {"reachable": False, "reason": check.get("reason", "unreachable")}
                  for name, check in checks.items()}
    if down:
        return _json(503, {"status": "unavailable", "unavailable": down, **checks})
    return _json(200, {"status": "ok", **checks})


def _may_see_details() -> bool:
    """Readiness details (URLs, errors) for admins with accounts on; anyone else, who may
    reach /healthz without signing in, gets each check's verdict and a generic reason."""
    if services().settings.auth:
        user = auth.current_user()
        if user is not None and user.admin:
            return True
    return False


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _llm_ready(llm: LLMClient) -> dict[str, Any]:
    """Its /health says ok; an engine without /health (a hosted API) lists its models."""
    try:
        response = llm.http.get("/health", timeout=READY_TIMEOUT_S)
        if response.status_code == 404:
            models = llm.settings.llm_base_url.rstrip("/") + "/models"
            response = llm.http.get(models, timeout=READY_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return {"reachable": False, "reason": "unreachable", "url": llm.settings.llm_root_url,
                "error": f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__}
    try:
        body = response.json()
    except ValueError:
        body = None  # vLLM's /health answers 200 with an empty body
    body = body if isinstance(body, dict) else {}
    if response.status_code != 200:
        # llmserver: 503 {"status": "loading"} or {"status": "unavailable", "error": ...}
        reason = body.get("error") or body.get("status") or f"HTTP {response.status_code}"
        return {"reachable": False, "url": llm.settings.llm_root_url, "error": str(reason),
                "reason": "loading" if body.get("status") == "loading" else "error"}
    return {"reachable": True, "model": body.get("model")}


def _chroma_ready(library: Library) -> dict[str, Any]:
    """A Chroma server answers its heartbeat; embedded Chroma opens."""
    mode = "server" if library.rag.settings.chroma_url else "embedded"
    try:
        library.rag.store.heartbeat(READY_TIMEOUT_S)
    except Exception as exc:  # rag's store errors, whose message says why
        return {"reachable": False, "reason": "unreachable", "mode": mode, "error": str(exc)}
    return {"reachable": True, "mode": mode}


@bp.get("/metrics")
def metrics() -> Response:
    m = services().metrics
    return Response(m.render(), mimetype=m.content_type)
