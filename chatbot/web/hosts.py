"""The Host names this server answers for (CHATBOT_ALLOWED_HOSTS), against DNS rebinding.

A page on `rebind.example` whose name is then pointed at 127.0.0.1 is, to the browser, the
same origin as this server: its scripts could read conversations and post as the user. The
one thing such a request cannot hide is its Host header (`rebind.example:5000`), so every
request is refused unless its Host is one the operator listed, a loopback name, or an address
typed as such (no name, nothing to rebind). This runs
outermost, as WSGI middleware, so Engine.IO's requests (the Socket.IO connection, polling and
WebSocket) are checked too, not only Flask's routes.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("chatbot.web.hosts")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def split(host: str) -> tuple[str, str]:
    """`name:port` (or `[v6]:port`) as (lower-case name, port or "")."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        return name + "]", rest.removeprefix(":")
    name, _, port = host.partition(":") if host.count(":") == 1 else (host, "", "")
    return name.rstrip("."), port


def allowed(host: str, allow: list[str]) -> bool:
    """Whether Host `host` is one of `allow`: an entry without a port allows any port; `*`
    allows every host."""
    if not host:
        return False
    name, port = split(host)
    if _ip_literal(name):
        return True
    for entry in allow:
        if entry == "*":
            return True
        entry_name, entry_port = split(entry)
        if entry_name == name and (not entry_port or entry_port == port):
            return True
    return False


def _ip_literal(name: str) -> bool:
    """An address typed as such (`192.168.1.5`, `[fe80::1]`), not the unspecified one.
    Rebinding needs a name the attacker controls; a page reached by address is its own
    origin, so these are allowed without listing (a LAN user reaching the machine by its
    address keeps working). `0.0.0.0` is no address to reach: refused."""
    try:
        address = ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return not address.is_unspecified


def origin_allowed(origin: str, allow: list[str]) -> bool:
    """Whether a browser Origin (`scheme://host[:port]`) names an allowed host."""
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and allowed(parts.netloc, allow)


class AllowedHosts:
    """WSGI middleware: 421 Misdirected Request, with a sentence saying what to set, for a
    Host that is not allowed."""

    def __init__(self, app: WSGIApp, allow: list[str]):
        self.app = app
        self.allow = allow
        self._warned: set[str] = set()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST", "")
        if allowed(host, self.allow):
            return self.app(environ, start_response)
        shown = host[:100]
        if shown not in self._warned and len(self._warned) < 100:
            # Once per host: a misconfigured proxy shows up in the log without flooding it.
            self._warned.add(shown)
            log.warning("refused requests for host %r: not in CHATBOT_ALLOWED_HOSTS", shown)
        body = (f"Refused: this server does not answer for the host {shown!r}. If it "
                "should, add that host name to CHATBOT_ALLOWED_HOSTS.\n").encode()
        start_response("421 Misdirected Request", [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff")])
        return [body]
