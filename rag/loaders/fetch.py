"""HTTP fetching for the URL and crawl loaders: bounded, redirect-checked, charset-aware."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from rag.loaders.guard import FetchError, Limit, UrlPolicy, host_port, limited
from rag.loaders.html import decode_html
from rag.settings import RagSettings

__all__ = ["FetchError", "Fetcher", "Response"]


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    content_type: str  # media type only, lower case, e.g. "text/html"
    charset: str | None
    body: bytes

    def text(self) -> str:
        return decode_html(self.body, self.charset)


class Fetcher:
    """GETs URLs with timeouts, a size cap and a redirect limit.

    With allow_private=False every hop's host must resolve to public addresses only (or be
    allowed by `allow`, see UrlPolicy), so a URL given by a remote user cannot reach
    loopback, the LAN or cloud metadata endpoints. Every connection, so every redirect hop, is
    opened to addresses checked as it is opened (see rag.loaders.guard): one DNS lookup per
    connection, and DNS rebinding gains nothing.
    """

    def __init__(self, settings: RagSettings, *, allow_private: bool = True,
                 allow: Sequence[str] = (), cancel: threading.Event | None = None,
                 job_deadline: float | None = None) -> None:
        """cancel: once set, a fetch under way stops within a second (FetchError
        "cancelled"). job_deadline: seconds from now by which the whole job (this fetcher's
        every request and pause) must end; no fetch runs past it."""
        self.settings = settings
        self.cancel = cancel
        self.job_deadline = job_deadline
        self.job_ends = None if job_deadline is None else time.monotonic() + job_deadline
        self.policy = UrlPolicy(allow_private, allow)
        self._client = httpx.Client(
            transport=self.policy.transport(),
            # A proxy from the environment would open the connections where they are not
            # checked: fetches for untrusted users go direct.
            trust_env=allow_private,
            timeout=httpx.Timeout(settings.fetch_timeout),
            follow_redirects=False,
            headers={"User-Agent": settings.user_agent},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def halted(self) -> str | None:
        """Why the job must fetch nothing more (cancelled, out of time); None if it may."""
        if self.cancel is not None and self.cancel.is_set():
            return "not fetched: the job was cancelled"
        if self.job_ends is not None and time.monotonic() >= self.job_ends:
            return (f"not fetched: the job's {self.job_deadline:g}s limit "
                    "(RAG_JOB_DEADLINE) was reached")
        return None

    def pause(self, seconds: float) -> None:
        """Sleep between requests, but no longer than the job may still run."""
        if self.job_ends is not None:
            seconds = min(seconds, max(0.0, self.job_ends - time.monotonic()))
        if self.cancel is not None:
            self.cancel.wait(seconds)
        elif seconds > 0:
            time.sleep(seconds)

    def get(self, url: str) -> Response:
        """Raises FetchError, saying why, past RAG_FETCH_DEADLINE (however slowly the
        server sends) or the job's own deadline."""
        seconds = self.settings.fetch_deadline
        why = ""
        if self.job_ends is not None and self.job_ends - time.monotonic() < seconds:
            seconds = max(0.0, self.job_ends - time.monotonic())
            why = (f"not finished when the job's {self.job_deadline:g}s limit "
                   "(RAG_JOB_DEADLINE) was reached")
        with limited(Limit(seconds, self.cancel, why)) as limit:
            return self._get(url, limit)

    def _get(self, url: str, limit: Limit) -> Response:
        seen: set[str] = set()
        for _ in range(self.settings.max_redirects + 1):
            host_port(url)  # each hop's address is checked as it is connected to
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
                    return self._read(url, r, limit)
            except httpx.TimeoutException:
                if limit.reason:
                    raise FetchError(limit.reason) from None
                raise FetchError(f"timed out after {self.settings.fetch_timeout:g}s") from None
            except httpx.HTTPError as e:
                raise FetchError(f"{type(e).__name__}: {e}") from None
            except httpx.InvalidURL as e:  # not an HTTPError: e.g. an octal IPv4 host
                raise FetchError(f"invalid URL: {e}") from None
        raise FetchError(f"more than {self.settings.max_redirects} redirects")

    def _read(self, url: str, r: httpx.Response, limit: Limit) -> Response:
        cap = self.settings.max_fetch_bytes
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchError(f"too large: {int(declared)} bytes (limit {cap})")
        body = bytearray()
        for piece in r.iter_bytes():
            body.extend(piece)
            if len(body) > cap:
                raise FetchError(f"too large: over {cap} bytes")
            if reason := limit.expired():  # checked by the connections too, unless proxied
                raise FetchError(reason)
        media, _, params = r.headers.get("content-type", "").partition(";")
        charset = None
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip("\"' ").lower()
        return Response(str(r.url), media.strip().lower(), charset, bytes(body))
