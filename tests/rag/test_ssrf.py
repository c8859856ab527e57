"""Fetching URLs from untrusted users (allow_private=False) never reaches a non-public
address, whatever form the address takes: loopback, private, link-local, metadata and
carrier-grade NAT ranges; IPv6 loopback and IPv4-mapped forms; the decimal, octal, hex and
short IPv4 forms the C resolver accepts; DNS names that resolve to such an address; and
redirects to any of them. A real HTTP server listens on 127.0.0.1 for every case, so a
refusal that came too late would show as a request it received."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.documents import redirect, serve
from rag.loaders.fetch import Fetcher, FetchError
from rag.loaders.guard import UrlPolicy
from rag.settings import RagSettings

SETTINGS = RagSettings(data_dir=Path("unused"), fetch_timeout=2.0)
# Hosts (with the port appended by the test) naming this machine's loopback server.
LOOPBACK_FORMS = ["127.0.0.1", "localhost", "localhost.", "127.1", "2130706433", "0x7f000001",
                  "0177.0.0.1", "0x7f.0.0.1", "017700000001", "[::1]", "[::ffff:127.0.0.1]",
                  "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]"]
# Never fetched (nothing listens there): refused by address alone.
OTHER_PRIVATE = ["0.0.0.0", "0", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
                 "100.64.0.1", "[fe80::1]", "[fd00::1]", "[::]", "[::ffff:10.0.0.1]",
                 "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[2002:a00:1::]", "224.0.0.1",
                 "[ff02::1]", "255.255.255.255"]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[str]]]:
    """A loopback server that records every request it is sent; its port."""
    received: list[str] = []

    def secret() -> tuple[int, dict[str, str], bytes]:
        received.append("/secret")
        return 200, {"Content-Type": "text/plain"}, b"internal"

    routes = {"/secret": secret}
    with serve(routes) as base:
        port = base.rsplit(":", 1)[1]
        for i, host in enumerate(LOOPBACK_FORMS):
            routes[f"/to-{i}"] = redirect(f"http://{host}:{port}/secret")
        yield port, received


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_every_form_of_loopback_is_refused_before_connecting(
        server: tuple[str, list[str]], host: str) -> None:
    port, received = server
    before = len(received)
    url = f"http://{host}:{port}/secret"
    with pytest.raises(FetchError, match="non-public|cannot resolve"):
        UrlPolicy(allow_private=False).check(url)
    with Fetcher(SETTINGS, allow_private=False) as fetcher, pytest.raises(FetchError):
        fetcher.get(url)
    assert len(received) == before


def test_where_private_addresses_are_allowed_the_server_answers(
        server: tuple[str, list[str]]) -> None:
    """The CLI's rule (the operator's own URLs): the refusals above are the policy's, not
    an unreachable server's."""
    port, _ = server
    with Fetcher(SETTINGS) as fetcher:
        for host in ("127.0.0.1", "localhost", "127.1", "2130706433"):
            assert fetcher.get(f"http://{host}:{port}/secret").body == b"internal", host


@pytest.mark.parametrize("host", OTHER_PRIVATE)
def test_private_link_local_metadata_and_mapped_ranges_are_refused(host: str) -> None:
    with pytest.raises(FetchError, match="non-public|cannot resolve"):
        UrlPolicy(allow_private=False).check(f"http://{host}/")


def test_redirects_to_any_loopback_form_are_refused(server: tuple[str, list[str]]) -> None:
    """The first hop is allowed (127.0.0.1 on the allow-list); each redirect's target is
    checked before it is connected to."""
    port, received = server
    before = len(received)
    with Fetcher(SETTINGS, allow_private=False, allow=[f"127.0.0.1:{port}"]) as fetcher:
        for i, host in enumerate(LOOPBACK_FORMS):
            if host == "127.0.0.1":
                continue  # allowed by the list, on purpose
            with pytest.raises(FetchError):
                fetcher.get(f"http://127.0.0.1:{port}/to-{i}")
    assert len(received) == before


def test_a_name_resolving_to_a_private_address_is_refused(
        monkeypatch: pytest.MonkeyPatch, server: tuple[str, list[str]]) -> None:
    port, received = server
    real = socket.getaddrinfo

    def resolver(host: str, *args: object, **kwargs: object) -> list:
        answers = {"intranet.example": "10.1.2.3", "mixed.example": "93.184.216.34",
                   "loop.example": "127.0.0.1"}
        if host not in answers:
            return real(host, *args, **kwargs)  # type: ignore[arg-type]
        found = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], int(port)))]
        if host == "mixed.example":  # one public and one private answer: refused
            found.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", int(port), 0, 0)))
        return found

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    before = len(received)
    for host in ("intranet.example", "mixed.example", "loop.example"):
        with pytest.raises(FetchError, match="non-public"):
            UrlPolicy(allow_private=False).check(f"http://{host}:{port}/secret")
        with Fetcher(SETTINGS, allow_private=False) as fetcher, pytest.raises(FetchError):
            fetcher.get(f"http://{host}:{port}/secret")
    assert len(received) == before


def test_only_http_and_https_are_fetched() -> None:
    for url in ("file:///etc/passwd", "ftp://example.org/", "gopher://127.0.0.1:70/",
                "javascript:alert(1)", "http:///nohost", "//example.org/"):
        with pytest.raises(FetchError):
            UrlPolicy(allow_private=False).check(url)
