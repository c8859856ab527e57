"""Requests that come through a reverse proxy the deployment trusts (AUTH_TRUSTED_PROXIES).

Behind a proxy that terminates TLS, the chatbot itself is reached over plain HTTP, yet the
page's origin is https://…: without the proxy's X-Forwarded-Proto every same-origin check
(Socket.IO's, and CSRF's on POST) would refuse the page, and the session cookie would not
be marked Secure. The header is believed only from the listed proxies: anyone else could
send it.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

log = logging.getLogger("chatbot.web.proxies")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _parsed(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """AUTH_TRUSTED_PROXIES parsed once (it is consulted on every request, Engine.IO's
    polling included); a bad entry is logged once and left out."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.warning("AUTH_TRUSTED_PROXIES: %r is not an address or network", entry)
    return tuple(networks)


def trusted(address: str | None, networks: list[str]) -> bool:
    """Whether `address` (the peer) is one of `networks` (addresses or CIDR networks)."""
    if not networks:
        return False
    try:
        peer = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(peer in network for network in _parsed(tuple(networks)))


def client_address(environ: dict[str, Any], networks: list[str]) -> str:
    """The client's address: the peer, or, when the peer is one of AUTH_TRUSTED_PROXIES,
    the client it names last in X-Forwarded-For (otherwise everyone behind a reverse proxy
    would share one address, and one client's limits would be everyone's)."""
    peer = environ.get("REMOTE_ADDR") or "unknown"
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and trusted(peer, networks):
        return forwarded.split(",")[-1].strip() or peer
    return str(peer)


class ForwardedScheme:
    """WSGI middleware: the scheme the browser used, as a trusted proxy reports it
    (X-Forwarded-Proto), becomes the request's own. Outermost, so that Engine.IO's origin
    check sees it too."""

    def __init__(self, app: WSGIApp, networks: list[str]):
        self.app = app
        self.networks = networks

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        forwarded = environ.get("HTTP_X_FORWARDED_PROTO", "")
        if forwarded and trusted(environ.get("REMOTE_ADDR"), self.networks):
            # The first proxy's view: the scheme the browser itself used.
            scheme = forwarded.split(",")[0].strip().lower()
            if scheme in ("http", "https"):
                environ["wsgi.url_scheme"] = scheme
        return self.app(environ, start_response)


class SecureOverHttps(SecureCookieSessionInterface):
    """The session cookie is Secure when COOKIE_SECURE says so, and whenever the request
    came over HTTPS (directly, or through a trusted proxy): a cookie set over HTTPS never
    needs to travel over plain HTTP."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)
