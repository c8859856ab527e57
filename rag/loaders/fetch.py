"""HTTP fetching for the URL and crawl loaders: bounded, redirect-checked, charset-aware."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from rag.loaders.html import decode_html
from rag.settings import RagSettings


class FetchError(Exception):
    """A URL that could not be fetched; the message is the reason shown to the user."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    content_type: str  # media type only, lower case, e.g. "text/html"
    charset: str | None
    body: bytes

    def text(self) -> str:
        return decode_html(self.body, self.charset)


class AddressPolicy:
    """Which hosts a fetch for an untrusted user may reach: public addresses, plus an
    allow-list of host names (`intranet`, `localhost:8080`, matched on the URL's own host
    and port, so one name does not open its neighbours) and networks (`10.0.0.0/8`)."""

    def __init__(self, allow: Sequence[str] = ()) -> None:
        self.names: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in (e.strip().lower() for e in allow):
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry)

    def named(self, host: str, port: int) -> bool:
        host = host.lower()
        return host in self.names or f"{host}:{port}" in self.names

    def address_ok(self, ip: str) -> bool:
        address = ipaddress.ip_address(ip.split("%")[0])
        return address.is_global or any(address in n for n in self.networks)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


class Fetcher:
    """GETs URLs with timeouts, a size cap and a redirect limit.

    With allow_private=False every hop's host must resolve to public addresses only (or be
    allowed by `allow`, see AddressPolicy), so a URL given by a remote user cannot reach
    loopback, the LAN or cloud metadata endpoints. The address actually connected to is
    checked again before the body is read, so a DNS answer that changes between the check
    and the connection (rebinding) gains nothing.
    """

    def __init__(self, settings: RagSettings, *, allow_private: bool = True,
                 allow: Sequence[str] = ()) -> None:
        self.settings = settings
        self.allow_private = allow_private
        self.policy = AddressPolicy(allow)
        timeout = httpx.Timeout(settings.fetch_timeout)
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": settings.user_agent},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_url(self, url: str) -> None:
        """Raises FetchError when this fetcher would refuse `url` (scheme, host, address)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"unsupported URL scheme {parts.scheme!r}")
        if not parts.hostname:
            raise FetchError("URL has no host")
        if self.allow_private or self.policy.named(parts.hostname,
                                                   parts.port or _default_port(parts.scheme)):
            return
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 0, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise FetchError(f"cannot resolve {parts.hostname}: {e.strerror}") from None
        for info in infos:
            if not self.policy.address_ok(str(info[4][0])):
                raise FetchError(f"refused: {parts.hostname} resolves to non-public {info[4][0]}")

    def _check_peer(self, url: str, r: httpx.Response) -> None:
        parts = urlsplit(url)
        if self.allow_private or self.policy.named(parts.hostname or "",
                                                   parts.port or _default_port(parts.scheme)):
            return
        stream = r.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if peer and not self.policy.address_ok(str(peer[0])):
            raise FetchError(f"refused: {parts.hostname} connected to non-public {peer[0]}")

    def get(self, url: str) -> Response:
        seen: set[str] = set()
        for _ in range(self.settings.max_redirects + 1):
            self.check_url(url)
            seen.add(url)
            try:
                with self._client.stream("GET", url) as r:
                    self._check_peer(url, r)
                    if r.is_redirect:
                        location = r.headers.get("location")
                        if not location:
                            raise FetchError(f"HTTP {r.status_code} redirect without Location")
                        url = urljoin(url, location)
                        if url in seen:
                            raise FetchError(f"redirect loop at {url}")
                        continue
                    if r.status_code >= 400:
                        raise FetchError(
                            f"HTTP {r.status_code} {r.reason_phrase}".strip(), r.status_code
                        )
                    return self._read(url, r)
            except httpx.TimeoutException:
                raise FetchError(f"timed out after {self.settings.fetch_timeout:g}s") from None
            except httpx.HTTPError as e:
                raise FetchError(f"{type(e).__name__}: {e}") from None
        raise FetchError(f"more than {self.settings.max_redirects} redirects")

    def _read(self, url: str, r: httpx.Response) -> Response:
        cap = self.settings.max_fetch_bytes
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchError(f"too large: {int(declared)} bytes (limit {cap})")
        body = bytearray()
        for piece in r.iter_bytes():
            body.extend(piece)
            if len(body) > cap:
                raise FetchError(f"too large: over {cap} bytes")
        media, _, params = r.headers.get("content-type", "").partition(";")
        charset = None
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip("\"' ").lower()
        return Response(str(r.url), media.strip().lower(), charset, bytes(body))
