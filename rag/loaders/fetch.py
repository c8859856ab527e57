"""HTTP fetching for the URL and crawl loaders: bounded, redirect-checked, charset-aware."""

from __future__ import annotations

import ipaddress
import socket
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


def _is_public(ip: str) -> bool:
    return ipaddress.ip_address(ip.split("%")[0]).is_global


class Fetcher:
    """GETs URLs with timeouts, a size cap and a redirect limit.

    With allow_private=False every hop's host must resolve to public addresses only, so a URL
    given by a remote user cannot reach loopback, the LAN or cloud metadata endpoints.
    """

    def __init__(self, settings: RagSettings, *, allow_private: bool = True) -> None:
        self.settings = settings
        self.allow_private = allow_private
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

    def _check_host(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"unsupported URL scheme {parts.scheme!r}")
        if not parts.hostname:
            raise FetchError("URL has no host")
        if self.allow_private:
            return
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 0, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise FetchError(f"cannot resolve {parts.hostname}: {e.strerror}") from None
        for info in infos:
            if not _is_public(str(info[4][0])):
                raise FetchError(f"refused: {parts.hostname} resolves to non-public {info[4][0]}")

    def get(self, url: str) -> Response:
        seen: set[str] = set()
        for _ in range(self.settings.max_redirects + 1):
            self._check_host(url)
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
