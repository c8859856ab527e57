"""The body of `POST /v1/chat/completions` (web/api.py) read and checked: each problem
refused with the OpenAI-style error that names it, before anything is asked of anyone.

Only what the chatbot can honour is accepted: text messages (a string, or parts of type
`text`), `stream`, `temperature`, `top_p`, `max_tokens` (or `max_completion_tokens`), `n`
of 1. Tools, function calls and other parts (images) are refused rather than ignored, since
the answer would silently not be what was asked; other fields (`user`, `seed`, ...) are
ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chatbot.chat.api_answers import Question
from chatbot.settings import ChatSettings, Settings

MAX_BODY_BYTES = 1024 * 1024
MAX_MESSAGES = 200
ROLES = frozenset(("system", "developer", "user", "assistant"))
UNSUPPORTED = ("tools", "functions", "tool_choice", "function_call", "response_format")


class Invalid(Exception):
    """A request refused; `status`, `code` and `param` go into the OpenAI-style error."""

    def __init__(self, message: str, *, status: int = 400, code: str | None = None,
                 param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param
        self.kind = kind


@dataclass(frozen=True)
class Completion:
    """A checked request: the model asked for, whether to stream, what to answer."""

    model: str
    stream: bool
    question: Question


def parse_body(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise Invalid(f"The request body is larger than {MAX_BODY_BYTES // 1024} KB.",
                      status=413, code="request_too_large")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("The request body is not JSON.", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.", code="invalid_json")
    return body


def completion(body: dict[str, Any], settings: Settings) -> Completion:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise Invalid("`model` is required: `rag:<collection>` or a model of GET /v1/models.",
                      param="model", code="missing_required_parameter")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise Invalid("`stream` must be true or false.", param="stream", code="invalid_type")
    for name in UNSUPPORTED:
        if body.get(name):
            raise Invalid(f"`{name}` is not supported by this server.", param=name,
                          code="unsupported_parameter")
    if body.get("n", 1) != 1:
        raise Invalid("Only `n` = 1 is supported.", param="n", code="unsupported_value")
    system, turns = _messages(body.get("messages"))
    question = turns.pop()[1]
    if len(question) > settings.max_message_chars:
        raise Invalid(f"The last message is {len(question):,} characters long; at most "
                      f"{settings.max_message_chars:,} are allowed (CHAT_MAX_MESSAGE_CHARS).",
                      param="messages", code="string_above_max_length")
    chat = _settings(body, settings, system)
    return Completion(model.strip(), stream, Question(chat, turns, question))


def _messages(messages: object) -> tuple[str | None, list[tuple[str, str]]]:
    """The system text (None: no system message) and the turns, consecutive messages of one
    role joined (chat templates want them alternating), ending with the user's."""
    if not isinstance(messages, list) or not messages:
        raise Invalid("`messages` must be a non-empty list.", param="messages",
                      code="invalid_type")
    if len(messages) > MAX_MESSAGES:
        raise Invalid(f"At most {MAX_MESSAGES} messages are accepted.", param="messages",
                      code="array_above_max_length")
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise Invalid(f"{where}: `role` must be one of system, developer, user, "
                          "assistant.", param=where, code="invalid_value")
        role, text = message["role"], _text(message.get("content"), where)
        if role in ("system", "developer"):
            system.append(text)
        elif turns and turns[-1][0] == role:
            turns[-1] = (role, f"{turns[-1][1]}\n\n{text}")
        else:
            turns.append((role, text))
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise Invalid("The last message (after any system message) must be the user's, "
                      "with text.", param="messages", code="invalid_value")
    return ("\n\n".join(system) if system else None), turns


def _text(content: object, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
            for p in content):
        return "\n".join(p["text"] for p in content)
    raise Invalid(f"{where}: `content` must be text (a string, or parts of type `text`).",
                  param=f"{where}.content", code="invalid_type")


def _settings(body: dict[str, Any], settings: Settings, system: str | None) -> ChatSettings:
    """The page's defaults (CHAT_*) with what the request sets."""
    values = ChatSettings.defaults(settings).model_dump()
    if system is not None:
        values["system_prompt"] = system
    tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    for name, value in (("temperature", body.get("temperature")),
                        ("top_p", body.get("top_p")), ("max_tokens", tokens)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"`{name}` must be a number.", param=name, code="invalid_type")
        values[name] = value
    try:
        return ChatSettings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        param = "messages" if name == "system_prompt" else name
        what = "the system message" if name == "system_prompt" else f"`{name}`"
        raise Invalid(f"{what}: {error['msg']}.", param=param, code="invalid_value") from exc
