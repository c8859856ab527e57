"""One streamed answer from the OpenAI-compatible server (its server-sent events as text
pieces, a reasoning model's thoughts as `Thought` pieces, its usage and finish reason), and
the failures of talking to that server in the user's words (`LLMError`, `describe`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import openai

from chatbot.chat.thinking import ThinkSplitter, Thought
from chatbot.errors import LLMError
from chatbot.settings import Settings

log = logging.getLogger("chatbot.chat.llm")


class ChatStream:
    """Iterates the answer's text pieces from the server-sent events, the model's reasoning
    as `Thought` pieces (thinking.py); `close()` drops the HTTP stream, which is how an
    OpenAI-compatible server learns to stop generating."""

    def __init__(self, opening: Any, response: Any, settings: Settings):
        self._opening = opening
        self._response = response
        self._settings = settings
        self.usage: dict[str, int] | None = None
        self.finish_reason: str | None = None
        # None once the text has shown it holds no `<think>` block, or the block closed.
        self._splitter: ThinkSplitter | None = ThinkSplitter()

    def __iter__(self) -> Iterator[str]:
        try:
            for line in self._response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if chunk.get("error"):
                    message = chunk["error"].get("message", "") if isinstance(
                        chunk["error"], dict) else str(chunk["error"])
                    raise LLMError(f"The language model server failed mid-answer: {message}")
                if chunk.get("usage"):
                    self.usage = {k: v for k, v in chunk["usage"].items()
                                  if k in ("prompt_tokens", "completion_tokens", "total_tokens")}
                for choice in chunk.get("choices") or ():
                    if choice.get("finish_reason"):
                        self.finish_reason = choice["finish_reason"]
                    delta = choice.get("delta")
                    if delta:
                        thought = delta.get("reasoning_content") or delta.get("reasoning")
                        if thought:
                            yield Thought(thought)
                        content = delta.get("content")
                    else:  # a text completion's chunk
                        content = choice.get("text")
                    if not content:
                        continue
                    if self._splitter is None:
                        yield content
                        continue
                    yield from self._splitter.feed(content)
                    if self._splitter.done:
                        self._splitter = None
            if self._splitter is not None:
                yield from self._splitter.end()
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            raise LLMError(describe(exc, self._settings)) from exc
        except (ValueError, AttributeError) as exc:  # not JSON, or not the shape of a chunk
            raise LLMError("The language model server sent a malformed stream.") from exc

    def close(self) -> None:
        try:
            self._opening.__exit__(None, None, None)
        except (httpx.HTTPError, OSError):
            log.debug("closing the upstream stream failed", exc_info=True)


def describe(exc: BaseException, settings: Settings) -> str:
    """One sentence for the user; the traceback goes to the log, never to the browser."""
    where = settings.llm_base_url
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return (f"The language model server did not answer within "
                f"{settings.llm_read_timeout:g} s. It may be overloaded; try again.")
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return (f"The language model server at {where} is not reachable. "
                "Check that it is running; your next message will retry.")
    if isinstance(exc, openai.APIStatusError):
        detail = _server_message(exc)
        if exc.status_code == 503:
            return "The language model is still loading. Try again in a few seconds."
        if exc.status_code in (401, 403):
            return "The language model server refused the API key (LLM_API_KEY)."
        if exc.status_code == 404:
            return f"The language model server does not offer that model. {detail}".strip()
        if exc.status_code == 429:
            return "The language model server is busy (rate limited). Try again shortly."
        return f"The language model server answered with an error ({exc.status_code}). {detail}"
    return "The language model server failed unexpectedly. Try again."


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if isinstance(message, str):
            return message[:300]
    return ""
