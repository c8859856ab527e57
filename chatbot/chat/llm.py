"""The LLM client: the OpenAI API at LLM_BASE_URL, plus optional llama.cpp-style extras (a
streamed answer and the failures' wording are llm_stream.py's).

Everything here works against any OpenAI-compatible engine. Two extras are used when the
server offers them and replaced by safe guesses when it does not: the context size (from
`GET /health` -> `n_ctx`, else LLM_N_CTX) and exact token counts (`POST /tokenize/count`,
else a conservative bytes/3 estimate that over-counts for ordinary text).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai

from chatbot.chat.llm_stream import ChatStream, describe
from chatbot.errors import LLMError
from chatbot.settings import Settings

log = logging.getLogger("chatbot.chat.llm")

# How long a learned fact about the server (context size, whether it counts tokens, its
# model list) is trusted; short enough that a restarted or swapped server is noticed.
FACT_TTL_S = 30.0
EXTRAS_TIMEOUT = httpx.Timeout(3.0)


def estimate_tokens(text: str) -> int:
    """Upper-bound guess without a tokenizer: BPE/SentencePiece tokens of ordinary text
    average 3.5-4.5 bytes, so bytes/3 over-counts, which is the safe side for a budget."""
    return math.ceil(len(text.encode("utf-8")) / 3)


@dataclass
class _Cached:
    value: Any = None
    at: float = field(default=-math.inf)

    def fresh(self) -> bool:
        return time.monotonic() - self.at < FACT_TTL_S

    def set(self, value: Any) -> Any:
        self.value, self.at = value, time.monotonic()
        return value


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LLMClient:
    def __init__(self, settings: Settings):
        self.settings = settings
        timeout = httpx.Timeout(settings.llm_read_timeout, connect=settings.llm_connect_timeout)
        # A proxy set for the machine's outbound traffic (HTTP_PROXY without a NO_PROXY for
        # loopback) must not carry requests to a server on this very machine.
        trust_env = not _loopback(settings.llm_root_url)
        self.openai = openai.OpenAI(base_url=settings.llm_base_url,
                                    api_key=settings.llm_api_key or "not-needed",
                                    timeout=timeout, max_retries=0,
                                    http_client=openai.DefaultHttpxClient(trust_env=trust_env))
        headers = ({"Authorization": f"Bearer {settings.llm_api_key}"}
                   if settings.llm_api_key else {})
        self.http = httpx.Client(base_url=settings.llm_root_url, headers=headers,
                                 timeout=EXTRAS_TIMEOUT, trust_env=trust_env)
        self._lock = threading.Lock()
        self._health = _Cached()
        self._models = _Cached()
        self._counts_tokens = _Cached(True)
        self._templates: dict[str, bool] = {}  # model: has a chat template of its own

    def close(self) -> None:
        self.http.close()
        self.openai.close()

    # Facts about the server ---------------------------------------------------------

    def health(self, fresh: bool = False) -> dict[str, Any]:
        """llama.cpp-style `/health` JSON, or {} when the server has none or is down.
        `fresh`: ask now rather than trust the answer of the last FACT_TTL_S seconds."""
        with self._lock:
            if self._health.fresh() and not fresh:
                return self._health.value
        try:
            response = self.http.get("/health")
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            body = {}
        with self._lock:
            # A failed probe is not cached: the next turn should see a server that came back.
            return self._health.set(body) if body else body

    def n_ctx(self) -> int:
        value = self.health().get("n_ctx")
        return value if isinstance(value, int) and value > 0 else self.settings.llm_n_ctx

    def slots(self) -> int:
        """Requests the server generates at once (`slots` in its /health), else 1."""
        value = self.health().get("slots")
        return value if isinstance(value, int) and value > 0 else 1

    def models(self) -> list[str]:
        """Model ids the server offers; raises LLMError when it cannot be asked."""
        return list(self.descriptions())

    def descriptions(self, fresh: bool = False) -> dict[str, str]:
        """The chat models the server offers, in its order, each with its description
        (llmserver's `description`, from the model's yaml; "" when the server gives none);
        raises LLMError when it cannot be asked. `fresh`: ask now (a pull just added one)."""
        with self._lock:
            if self._models.fresh() and not fresh:
                return self._models.value
        try:
            listed = self.openai.models.list().data
        except openai.OpenAIError as exc:
            raise LLMError(describe(exc, self.settings)) from exc
        # llmserver lists its embedding model too, marked with a `type`; it cannot chat.
        offered = {m.id: str((m.model_extra or {}).get("description") or "") for m in listed
                   if (m.model_extra or {}).get("type") != "embedding"}
        with self._lock:
            return self._models.set(offered)

    def default_model(self) -> str:
        """LLM_MODEL (as given, or as the alias of a GGUF path), else the server's first."""
        wanted = self.settings.llm_model
        try:
            offered = self.models()
        except LLMError:
            if wanted:
                return wanted
            raise
        if wanted and wanted not in offered and Path(wanted).stem in offered:
            return Path(wanted).stem
        if wanted:
            return wanted
        if not offered:
            raise LLMError("The language model server offers no model.")
        return offered[0]

    # Pulling models (llmserver's /v1/models/pull) -------------------------------------

    def pull(self, model: str) -> dict[str, Any]:
        """Have llmserver start pulling `model` (a curated name or OWNER/REPO/FILE.gguf);
        its first state. Raises LLMError (another pull under way, an unknown name, ...)."""
        return self._pulling("POST", "/v1/models/pull", {"model": model})

    def pull_state(self) -> dict[str, Any]:
        """llmserver's pull: {"model", "state": idle|running|done|failed, "bytes", "total",
        "error"?, "alias"?}; raises LLMError."""
        return self._pulling("GET", "/v1/models/pull")

    def pull_catalog(self) -> list[dict[str, str]]:
        """The curated models llmserver pulls by name ({"name", "size", "description",
        "source"}); [] from a server that pulls nothing."""
        try:
            models = self._pulling("GET", "/v1/models/pull/catalog").get("models")
        except LLMError:
            return []
        return models if isinstance(models, list) else []

    def _pulling(self, method: str, path: str,
                 payload: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self.http.request(method, path, json=payload)
            body = response.json()
        except httpx.HTTPError as exc:
            raise LLMError(describe(exc, self.settings)) from exc
        except ValueError as exc:
            raise LLMError("The language model server cannot pull models.") from exc
        if response.status_code in (404, 405):
            raise LLMError("The language model server cannot pull models (it is not "
                           "llmserver).")
        if response.status_code >= 400 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise LLMError(message if isinstance(message, str) else
                           f"The language model server answered {response.status_code}.")
        return body

    def count_tokens(self, text: str, model: str | None = None) -> int:
        """Tokens of `text` by the model's tokenizer when the server can say, else an
        over-estimate. Never raises: a budget must always be computable."""
        if not text:
            return 0
        with self._lock:
            ask = self._counts_tokens.value or not self._counts_tokens.fresh()
        if ask:
            payload: dict[str, Any] = {"input": text}
            if model:
                payload["model"] = model
            try:
                response = self.http.post("/tokenize/count", json=payload)
                if response.status_code == 200:
                    count = response.json().get("count")
                    if isinstance(count, int):
                        return count
                supported = response.status_code not in (404, 405, 501)
            except (httpx.HTTPError, ValueError):
                supported = True  # down, not missing: ask again next time
            if not supported:
                with self._lock:
                    self._counts_tokens.set(False)
        return estimate_tokens(text)

    # Generation ---------------------------------------------------------------------

    def stream_chat(self, messages: list[dict[str, str]], *, model: str, temperature: float,
                    top_p: float, max_tokens: int) -> ChatStream:
        """Open a streamed chat completion; raises LLMError when it cannot start."""
        # The raw streamed response, parsed here with json.loads: the openai client's own
        # per-chunk model objects cost more CPU than everything else done per token, on the
        # two cores llama.cpp is generating on.
        return self._stream(self.openai.chat.completions.with_streaming_response.create(
            model=model, messages=messages, temperature=temperature,  # type: ignore[arg-type]
            top_p=top_p, max_tokens=max_tokens, stream=True))

    def stream_completion(self, prompt: str, *, model: str, temperature: float, top_p: float,
                          max_tokens: int, stop: list[str]) -> ChatStream:
        """Open a streamed text completion (`/v1/completions`) of `prompt`; raises LLMError
        when it cannot start."""
        return self._stream(self.openai.completions.with_streaming_response.create(
            model=model, prompt=prompt, temperature=temperature, top_p=top_p,
            max_tokens=max_tokens, stop=stop, stream=True))

    def _stream(self, opening: Any) -> ChatStream:
        try:
            response = opening.__enter__()
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            raise LLMError(describe(exc, self.settings)) from exc
        return ChatStream(opening, response, self.settings)

    def has_chat_template(self, model: str) -> bool:
        """False when the server says `model` has no chat template of its own (llmserver's
        `meta.chat_template` for a base model); True when it says nothing."""
        with self._lock:
            known = self._templates.get(model)
        if known is not None:
            return known
        try:
            listed = self.openai.models.list().data
        except openai.OpenAIError:
            return True
        found = {m.id: ((m.model_extra or {}).get("meta") or {}).get("chat_template") is not False
                 for m in listed}
        with self._lock:
            self._templates.update(found)
        return found.get(model, True)
