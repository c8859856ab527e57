"""Requests that web pages make through a visitor's browser are refused.

llmserver listens on loopback with no key by default, and a browser will send a request to
loopback for any page it shows: `fetch("http://127.0.0.1:8000/v1/models/pull", {method:
"POST", mode: "no-cors", body})` needs no CORS preflight (a text/plain body is a "simple"
request) and would start a pull or a generation, and a page whose name an attacker points
at 127.0.0.1 (DNS rebinding) may even read the answers. Its clients are programs (the
chatbot, rag, curl, the OpenAI clients), which send no `Origin`, so refusing what browsers
mark as cross-site costs them nothing:

- `Host` must name this server (LLM_ALLOWED_HOSTS; by default the bind address, loopback and
  the compose services' names): a rebound name is refused, whatever the page.
- A request with an `Origin` (or `Sec-Fetch-Site: cross-site`/`same-site`) not in
  LLM_ALLOWED_ORIGINS is refused (403).
- A POST must say `Content-Type: application/json` (415 otherwise): a page can then only
  send it after a CORS preflight, which the rule above refuses.

`/health` is exempt from all three: orchestrators probe it by address (a Kubernetes probe
sends the pod's IP as its Host), it changes nothing and says only whether a model is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from starlette.types import Scope, Send

from llmserver.errors import ApiError
from llmserver.settings import Settings

# The names the chatbot reaches llmserver by inside docker-compose.yml (its LLM_BASE_URL:
# http://llmserver:8000/v1, and http://llmserver-gpu:8000/v1 in the gpu profile).
COMPOSE_SERVICES = ("llmserver", "llmserver-gpu")
LOOPBACK = ("localhost", "127.0.0.1", "::1")
# Sec-Fetch-Site values of requests another site's page started.
CROSS_SITE = {b"cross-site", b"same-site"}
JSON = "application/json"
# What a preflight from an allowed origin may go on to send.
PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", b"GET, POST"),
    (b"access-control-allow-headers", b"authorization, content-type"),
    (b"access-control-max-age", b"600"),
]


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def host_name(host: str) -> str:
    """The name in a Host header or an allow-list entry, without port, brackets or the
    final dot: `[::1]:8000` → `::1`, `LocalHost.:80` → `localhost`."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def default_hosts(bind: str) -> list[str]:
    # A wildcard bind (0.0.0.0, ::) is no name a client uses; clients of another machine
    # name it in LLM_ALLOWED_HOSTS.
    bound = [] if bind in ("0.0.0.0", "::", "") else [bind]
    return [*bound, *LOOPBACK, *COMPOSE_SERVICES]


class BrowserGuard:
    def __init__(self, settings: Settings):
        hosts = _split(settings.allowed_hosts) or default_hosts(settings.host)
        self.any_host = "*" in hosts
        self.hosts = {host_name(h) for h in hosts}
        origins = _split(settings.allowed_origins)
        self.any_origin = "*" in origins
        self.origins = {o.rstrip("/").lower() for o in origins}

    def check(self, scope: Scope) -> bytes | None:
        """Raises the ApiError that refuses `scope`; else its allowed Origin (a page of
        LLM_ALLOWED_ORIGINS, whose answers carry CORS headers), or None (no browser page)."""
        headers = _headers(scope["headers"])
        host = headers.get(b"host")
        # No Host at all is an HTTP/1.0 client, never a browser.
        if host is not None and not self.any_host:
            name = host_name(host.decode("latin-1"))
            if name not in self.hosts:
                raise ApiError(
                    403, f"Host {_shown(host)} is not a name this server answers to; to "
                    "reach it by that name, add it to LLM_ALLOWED_HOSTS (comma-separated).",
                    code="host_not_allowed")
        origin = headers.get(b"origin")
        if origin is not None and not (
                self.any_origin
                or origin.decode("latin-1").rstrip("/").lower() in self.origins):
            raise ApiError(
                403, f"Requests from web pages (Origin {_shown(origin)}) are refused; to let "
                "that site's pages call this server, add it to LLM_ALLOWED_ORIGINS.",
                code="origin_not_allowed")
        if origin is None and headers.get(b"sec-fetch-site", b"").lower() in CROSS_SITE:
            raise ApiError(403, "Requests another site's page makes are refused.",
                           code="origin_not_allowed")
        if scope["method"] == "POST":
            kind = headers.get(b"content-type", b"").decode("latin-1")
            if kind.split(";", 1)[0].strip().lower() != JSON:
                raise ApiError(415, "POST bodies must be JSON, sent with Content-Type: "
                               f"{JSON} (this one: {_shown(kind.encode()) if kind else 'none'}).",
                               code="unsupported_media_type")
        return origin


async def answer_preflight(origin: bytes, send: Send) -> None:
    """The CORS preflight of an allowed origin's page: it may send what it asks."""
    await send({"type": "http.response.start", "status": 204, "headers": [
        (b"access-control-allow-origin", origin), (b"vary", b"Origin"), *PREFLIGHT_HEADERS]})
    await send({"type": "http.response.body", "body": b""})


def with_cors(origin: bytes, send: Send) -> Send:
    """`send` adding the headers that let an allowed origin's page read the answer."""

    async def sending(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []),
                                              (b"access-control-allow-origin", origin),
                                              (b"vary", b"Origin")]}
        await send(message)

    return sending


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in raw}


def _shown(value: bytes) -> str:
    text = value.decode("latin-1")
    return repr(text if len(text) <= 100 else text[:100] + "…")
