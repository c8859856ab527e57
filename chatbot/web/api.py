"""The grounded chat as an OpenAI-compatible API, for other tools (any OpenAI client):

    GET  /v1/models             `rag:<collection>` for each collection the key may read, and
                                the plain model(s) it may use
    POST /v1/chat/completions   `model: "rag:<collection>"`: answered from that collection
                                with the page's retrieval and prompt, `sources` beside the
                                answer; a plain model: passed to the LLM, no retrieval

Every request carries `Authorization: Bearer <key>` (accounts/api_keys.py: a user's key,
or CHATBOT_API_KEY without accounts); the session cookie is never looked at, which is why
these routes alone skip the page's same-origin check (auth.py), and only with a valid key:
another site cannot make a browser send the header without a CORS preflight, which this
server never grants. A key reaches what its user may read: another user's collection is
answered exactly like one that does not exist. The page's per-user message limit and
queue apply. Errors are OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`.
The full description is docs/protocol.md ("OpenAI-compatible API").
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from flask import Blueprint, Flask, Response, g, request

from chatbot.accounts.viewer import Viewer
from chatbot.chat.api_answers import Answer
from chatbot.errors import LLMError, MessageTooLong
from chatbot.services import services
from chatbot.web.api_request import (
    MAX_BODY_BYTES,
    Completion,
    Invalid,
    completion,
    parse_body,
)
from rag import RagError

log = logging.getLogger("chatbot.web.api")

bp = Blueprint("api", __name__)
ENDPOINTS = frozenset(("api.models", "api.chat_completions"))
RAG_PREFIX = "rag:"


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def error(status: int, message: str, *, kind: str = "invalid_request_error",
          code: str | None = None, param: str | None = None) -> Response:
    response = Response(json.dumps({"error": {"message": message, "type": kind,
                                              "param": param, "code": code}}),
                        status=status, mimetype="application/json")
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def authenticate() -> Response | None:
    """Run before an API route (auth.py's guard): None when the request carries a valid
    key (its viewer kept in `g`), else the 401 to answer."""
    keys = services().api_keys
    if not keys.enabled:
        return error(401, "The API is off. The operator turns it on by setting "
                     "CHATBOT_API_KEY (16 characters or more) in the chatbot's environment "
                     "(or with accounts on, AUTH=on, each user makes keys in the page).",
                     code="api_off")
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    viewer = keys.viewer(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
    if viewer is None:
        where = ("a key made under API keys in the page's account area"
                 if services().settings.auth else "the key set in CHATBOT_API_KEY")
        return error(401, "Missing or invalid API key: send `Authorization: Bearer <key>` "
                     f"with {where}.", code="invalid_api_key")
    g.api_viewer = viewer
    return None


def _viewer() -> Viewer:
    viewer = g.get("api_viewer")
    assert isinstance(viewer, Viewer)  # authenticate() ran first
    return viewer


@bp.get("/v1/models")
def models() -> Response:
    s, viewer = services(), _viewer()
    data: list[dict[str, Any]] = []
    try:
        data += [{"id": RAG_PREFIX + c["name"], "object": "model", "created": 0,
                  "owned_by": c["owner"] or "chatbot"}
                 for c in sorted(s.library.collections(viewer), key=lambda c: c["name"])]
    except RagError as exc:
        return error(503, f"The document store cannot be reached: {exc}", kind="api_error",
                     code="store_unavailable")
    # The LLM server down: the collections are still worth listing; asking says why.
    with contextlib.suppress(LLMError):
        data += [{"id": m, "object": "model", "created": 0, "owned_by": "llm"}
                 for m in _plain_models(viewer)]
    return Response(json.dumps({"object": "list", "data": data}),
                    mimetype="application/json")


def _plain_models(viewer: Viewer) -> list[str]:
    """The server's models the viewer may ask for by name: all of them where the page lets
    them choose one (accounts off, an admin), else only the default, since a switch
    reloads the one model the LLM server holds for everyone."""
    llm = services().llm
    return llm.models() if viewer.can_manage_models() else [llm.default_model()]


def _resolve(model: str, viewer: Viewer) -> dict[str, Any]:
    """The conversation settings `model` stands for; raises Invalid (404: unknown, or
    another user's collection, answered alike)."""
    s = services()
    if model.startswith(RAG_PREFIX):
        name = model[len(RAG_PREFIX):]
        try:
            found = s.library.find(name, viewer) if name else None
        except RagError as exc:
            raise Invalid(f"The document store cannot be reached: {exc}", status=503,
                          kind="api_error", code="store_unavailable") from exc
        if found is None:
            raise Invalid(f"The model `{model}` does not exist: there is no collection "
                          f"`{name}`. GET /v1/models lists what you may use.", status=404,
                          code="model_not_found", param="model")
        s.library.warm_up()
        return {"rag": True, "rag_collection": name}
    try:
        offered = s.llm.models()
        allowed = _plain_models(viewer)
    except LLMError as exc:
        raise Invalid(str(exc), status=502, kind="api_error", code="llm_unavailable") from exc
    if model not in offered:
        raise Invalid(f"The model `{model}` does not exist. GET /v1/models lists what you "
                      "may use.", status=404, code="model_not_found", param="model")
    if model not in allowed:
        raise Invalid(f"Only an admin may choose the model `{model}`: the LLM server would "
                      "load it for everyone.", status=403, code="model_not_permitted",
                      param="model")
    return {"model": model, "rag": False}


@bp.post("/v1/chat/completions")
def chat_completions() -> Response:
    s, viewer = services(), _viewer()
    try:
        # Read at most the cap while the body streams in: a chunked body has no length.
        asked = completion(parse_body(request.stream.read(MAX_BODY_BYTES + 1)), s.settings)
        chosen = _resolve(asked.model, viewer)
    except Invalid as exc:
        return error(exc.status, str(exc), kind=exc.kind, code=exc.code, param=exc.param)
    problem = s.limits.question(viewer.key)
    if problem:
        response = error(429, problem, kind="rate_limit_error", code="rate_limit_exceeded")
        response.headers["Retry-After"] = "60"
        return response
    asked = replace(asked, question=replace(
        asked.question, chat=asked.question.chat.model_copy(update=chosen)))
    return _stream(asked, viewer) if asked.stream else _whole(asked, viewer)


def _failure(exc: BaseException | None) -> Invalid:
    if isinstance(exc, MessageTooLong):
        return Invalid(str(exc), code="context_length_exceeded", param="messages")
    if isinstance(exc, LLMError):
        return Invalid(str(exc), status=502, kind="api_error", code="llm_unavailable")
    return Invalid("Something went wrong while answering. Please try again.", status=500,
                   kind="server_error", code=None)


def _extras(answer: Answer) -> dict[str, Any]:
    """What a grounded answer carries beside OpenAI's fields (docs/protocol.md)."""
    extras: dict[str, Any] = {"sources": answer.sources}
    if answer.not_covered:
        extras["not_covered"] = answer.not_covered
    if answer.notices:
        extras["notices"] = answer.notices
    return extras


def _whole(asked: Completion, viewer: Viewer) -> Response:
    try:
        answer = services().api_answers.answer(asked.question, viewer, threading.Event())
    except (LLMError, MessageTooLong) as exc:
        failure = _failure(exc)
        return error(failure.status, str(failure), kind=failure.kind, code=failure.code,
                     param=failure.param)
    assert answer is not None  # never cancelled: nothing here can stop it
    body = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": asked.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                         "finish_reason": answer.finish_reason}],
            "usage": answer.usage, **_extras(answer)}
    return Response(json.dumps(body), mimetype="application/json")


def _stream(asked: Completion, viewer: Viewer) -> Response:
    """Server-sent events as OpenAI streams them. The answer is written by a worker thread;
    the response waits for its first piece, so that a failure before any text (the question
    too long, the LLM server down) is still an HTTP error, not a 200 with an error inside.
    The client hanging up stops the answer, upstream too."""
    s = services()
    pieces: queue.Queue[tuple[str, Any]] = queue.Queue()
    cancelled = threading.Event()

    def work() -> None:
        try:
            answer = s.api_answers.answer(asked.question, viewer, cancelled,
                                          lambda text: pieces.put(("text", text)))
            pieces.put(("end", answer))
        except (LLMError, MessageTooLong) as exc:
            pieces.put(("error", exc))
        except Exception as exc:
            log.exception("API answer failed")
            pieces.put(("error", exc))

    s.socketio.start_background_task(work)
    first = pieces.get()
    if first[0] == "error":
        failure = _failure(first[1])
        return error(failure.status, str(failure), kind=failure.kind, code=failure.code,
                     param=failure.param)
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": asked.model}

    def event(payload: dict[str, Any]) -> str:
        return f"data: {json.dumps(payload)}\n\n"

    def chunk(delta: dict[str, Any], finish: str | None = None,
              **extra: Any) -> str:
        return event({**head, "choices": [{"index": 0, "delta": delta,
                                           "finish_reason": finish}], **extra})

    def events() -> Iterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        kind, value = first
        while True:
            if kind == "text":
                yield chunk({"content": value})
            elif kind == "end":
                if value is not None:
                    yield chunk({}, value.finish_reason, usage=value.usage, **_extras(value))
                break
            else:
                failure = _failure(value)
                yield event({"error": {"message": str(failure), "type": failure.kind,
                                       "param": None, "code": failure.code}})
                break
            kind, value = pieces.get()
        yield "data: [DONE]\n\n"

    response = Response(events(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    # Called when the server is done with the response, finished or the client gone.
    response.call_on_close(cancelled.set)
    return response
