"""Which addresses a fetch may reach, enforced where each connection is opened.

A URL given by a remote user must not reach loopback, the LAN or cloud metadata endpoints.
Checking a host name before fetching is not enough: its DNS answer may change between the
check and the connection (rebinding), and every redirect names another host. So the check
lives in the transport: `UrlPolicy.transport()` gives httpx a transport whose connections
are opened by `CheckedConnections`, which resolves the name itself, checks every address
and connects to exactly the addresses it checked.

Kept in one file although a little over 300 lines: the address rules and the transport that
enforces them must be read together to be trusted.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from rag.errors import FetchError


def host_port(url: str) -> tuple[str, int]:
    """The URL's host and port; FetchError for anything but an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"unsupported URL scheme {parts.scheme!r}")
    if not parts.hostname:
        raise FetchError("URL has no host")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FetchError(f"cannot resolve {host}: {e.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address
                   ) -> list[ipaddress.IPv4Address]:
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


class UrlPolicy:
    """Which hosts fetches may reach. allow_private=True (whoever gives the URLs owns the
    machine, as with the CLI): any. allow_private=False (URLs from untrusted users): public
    addresses, plus an allow-list of host names (`intranet`, `localhost:8080`, matched on
    the URL's own host and port, so one name does not open its neighbours) and networks
    (`10.0.0.0/8`)."""

    def __init__(self, allow_private: bool = True, allow: Sequence[str] = ()) -> None:
        self.allow_private = allow_private
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
        if any(address in n for n in self.networks):
            return True
        # An IPv6 address can carry an IPv4 one that a translator or relay delivers to:
        # 6to4 and the NAT64 prefix count as global, whatever IPv4 address they embed.
        embedded = [a for a in _embedded_ipv4(address) if not a.is_global or a.is_multicast]
        return address.is_global and not address.is_multicast and not embedded

    def checked_addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses; FetchError if any of them is one this policy refuses."""
        addresses = _resolve(host, port)
        for address in addresses:
            if not self.address_ok(address):
                raise FetchError(f"refused: {host} resolves to non-public {address}")
        return addresses

    def check(self, url: str) -> None:
        """FetchError when a fetch of `url` would be refused (scheme, host, address): for
        refusing a URL before queueing work on it. Fetches check again as they connect."""
        host, port = host_port(url)
        if not self.allow_private and not self.named(host, port):
            self.checked_addresses(host, port)

    def transport(self) -> httpx.BaseTransport:
        # Guarded even when any address may be reached: the same connections carry the
        # total deadline of each fetch (see Limit).
        return GuardedTransport(self)


# Socket waits are cut into slices this long, so a cancelled job stops within one.
SLICE_S = 1.0


class Limit:
    """A total deadline (and a cancel flag) for the fetches of the thread that sets it (see
    `limited`): httpx's timeouts bound each wait for bytes, not a whole request, so a server
    sending a byte every few seconds would otherwise hold a fetch for as long as it likes.
    Every socket wait is bounded by what is left, in slices of at most SLICE_S."""

    def __init__(self, seconds: float, cancel: threading.Event | None = None,
                 why: str = "") -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.cancel = cancel
        self.why = why or f"took longer than {seconds:g}s in all (RAG_FETCH_DEADLINE)"
        self.reason: str | None = None  # set when it cut a fetch: the reason to show

    def expired(self) -> str | None:
        """Why no more waiting is allowed (cancelled, or past the deadline); None if it is."""
        if self.reason is None:
            if self.cancel is not None and self.cancel.is_set():
                self.reason = "cancelled"
            elif time.monotonic() >= self.ends:
                self.reason = self.why
        return self.reason

    def wait(self, timeout: float | None, sliced: bool = True) -> float:
        """How long the next socket wait may last (sliced: at most SLICE_S, for reads that
        can be resumed); raises httpcore.ReadTimeout once the deadline has passed or the job
        was cancelled."""
        if self.expired():
            raise httpcore.ReadTimeout(self.reason)
        left = self.ends - time.monotonic()
        if sliced:
            left = min(left, SLICE_S)
        return max(0.001, left if timeout is None else min(timeout, left))


_local = threading.local()


@contextmanager
def limited(limit: Limit) -> Iterator[Limit]:
    """Fetches made by this thread within the block obey `limit`."""
    outer = getattr(_local, "limit", None)
    _local.limit = limit
    try:
        yield limit
    finally:
        _local.limit = outer


def _limit() -> Limit | None:
    return getattr(_local, "limit", None)


class _LimitedStream(httpcore.NetworkStream):
    """A connection whose every wait obeys the fetching thread's Limit, if it has one."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self.stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limit = _limit()
        if limit is None:
            return self.stream.read(max_bytes, timeout)
        started = time.monotonic()
        while True:
            try:
                return self.stream.read(max_bytes, limit.wait(timeout))
            except httpcore.ReadTimeout:
                # The end of a slice, not of the read's own timeout: check and wait again.
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise
                limit.wait(None)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        limit = _limit()
        self.stream.write(buffer, timeout if limit is None else limit.wait(timeout, False))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        limit = _limit()
        return _LimitedStream(self.stream.start_tls(
            ssl_context, server_hostname,
            timeout if limit is None else limit.wait(timeout, False)))

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class CheckedConnections(httpcore.NetworkBackend):
    """Opens connections only to addresses the policy allows, resolving the name itself
    and connecting to exactly the addresses it checked: a DNS answer that changes between a
    check and the connection (rebinding) cannot make even a request reach a private host."""

    def __init__(self, policy: UrlPolicy) -> None:
        self.policy = policy
        self.backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                    ) -> httpcore.NetworkStream:
        limit = _limit()
        if limit is not None:
            timeout = limit.wait(timeout, False)
        if self.policy.allow_private or self.policy.named(host, port):
            return _LimitedStream(self.backend.connect_tcp(host, port, timeout, local_address,
                                                           socket_options))
        error = httpcore.ConnectError(f"no address for {host}")
        for address in self.policy.checked_addresses(host, port):
            try:
                return _LimitedStream(self.backend.connect_tcp(address, port, timeout,
                                                               local_address, socket_options))
            except httpcore.ConnectError as e:
                error = e
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                            ) -> httpcore.NetworkStream:
        raise FetchError("refused: a Unix socket")

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


# httpcore's errors as the httpx ones httpx.HTTPTransport raises, the most specific first, so
# an httpx.Client behaves the same over either transport.
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as e:
        for raised, mapped in _HTTPX_ERRORS:
            if isinstance(e, raised):
                raise mapped(str(e)) from e
        raise


class _Body(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self.response = response

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self.response.iter_stream()

    def close(self) -> None:
        self.response.close()


class GuardedTransport(httpx.BaseTransport):
    """httpx.HTTPTransport's plain HTTP/1.1 path, over an httpcore pool whose every
    connection (so every redirect hop) is opened by CheckedConnections: httpx has no hook
    for how connections are opened, httpcore's ConnectionPool takes a network backend."""

    def __init__(self, policy: UrlPolicy) -> None:
        self.pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(),
                                            network_backend=CheckedConnections(policy))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        forwarded = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                             target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,  # type: ignore[arg-type]  # a sync client's is iterable
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self.pool.handle_request(forwarded)
        return httpx.Response(response.status, headers=response.headers,
                              stream=_Body(response), extensions=response.extensions)

    def close(self) -> None:
        self.pool.close()
