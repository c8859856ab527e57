"""HTTP fetching for the URL and crawl loaders: bounded, redirect-checked, charset-aware."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore
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


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"unsupported URL scheme {parts.scheme!r}")
    if not parts.hostname:
        raise FetchError("URL has no host")
    return parts.hostname, parts.port or _default_port(parts.scheme)


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FetchError(f"cannot resolve {host}: {e.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refuse_non_public(policy: AddressPolicy, host: str, addresses: list[str]) -> None:
    for address in addresses:
        if not policy.address_ok(address):
            raise FetchError(f"refused: {host} resolves to non-public {address}")


class _CheckedConnections(httpcore.NetworkBackend):
    """Opens connections only to addresses the policy allows, resolving the name itself
    and connecting to exactly the addresses it checked: a DNS answer that changes between a
    check and the connection (rebinding) cannot make even a request reach a private host."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                    ) -> httpcore.NetworkStream:
        if self._policy.named(host, port):
            return self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = _resolve(host, port)
        _refuse_non_public(self._policy, host, addresses)
        error = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                return self._backend.connect_tcp(address, port, timeout, local_address,
                                                 socket_options)
            except httpcore.ConnectError as e:
                error = e
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                            ) -> httpcore.NetworkStream:
        raise FetchError("refused: a Unix socket")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class Fetcher:
    """GETs URLs with timeouts, a size cap and a redirect limit.

    With allow_private=False every hop's host must resolve to public addresses only (or be
    allowed by `allow`, see AddressPolicy), so a URL given by a remote user cannot reach
    loopback, the LAN or cloud metadata endpoints. Every connection, so every redirect hop, is
    opened to addresses checked as it is opened (see _CheckedConnections): one DNS lookup per
    connection, and DNS rebinding gains nothing.
    """

    def __init__(self, settings: RagSettings, *, allow_private: bool = True,
                 allow: Sequence[str] = ()) -> None:
        self.settings = settings
        self.allow_private = allow_private
        self.policy = AddressPolicy(allow)
        timeout = httpx.Timeout(settings.fetch_timeout)
        transport = httpx.HTTPTransport()
        if not allow_private:
            # httpx has no hook for how connections are opened; its httpcore pool does, and
            # the pool creates every connection with this backend (tested with a rebinding
            # resolver in tests/rag/test_loaders.py, so a change upstream cannot go unseen).
            transport._pool._network_backend = _CheckedConnections(self.policy)
        self._client = httpx.Client(
            transport=transport,
            # A proxy from the environment would open the connections where they are not
            # checked: fetches for untrusted users go direct.
            trust_env=allow_private,
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
        """Raises FetchError when this fetcher would refuse `url` (scheme, host, address):
        for refusing a URL before queueing work on it. `get` checks addresses as it connects."""
        host, port = _host_port(url)
        if self.allow_private or self.policy.named(host, port):
            return
        _refuse_non_public(self.policy, host, _resolve(host, port))

    def get(self, url: str) -> Response:
        seen: set[str] = set()
        for _ in range(self.settings.max_redirects + 1):
            _host_port(url)  # each hop's address is checked by _CheckedConnections
            seen.add(url)
            try:
                with self._client.stream("GET", url) as r:
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
