"""What every response carries for the browser: a CSP without inline script, no MIME
sniffing, no framing; and the session cookie's flags (HttpOnly, SameSite, Secure on demand)."""

from __future__ import annotations

from collections.abc import Callable

from harness.inprocess import ChatApp


def test_pages_carry_the_security_headers(chat: ChatApp) -> None:
    client = chat.app.test_client()
    for path in ("/", "/healthz", "/static/style.css", "/no-such-page"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split(
            "style-src")[0], path
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"


def test_the_session_cookie_is_http_only_same_site_and_secure_on_demand(
        make_chat: Callable[..., ChatApp]) -> None:
    plain = make_chat().app.test_client().get("/").headers["Set-Cookie"]
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    secure = make_chat(cookie_secure=True).app.test_client().get(
        "/", base_url="https://localhost").headers["Set-Cookie"]
    assert "Secure" in secure and "HttpOnly" in secure


def test_behind_a_trusted_tls_proxy_the_page_is_same_origin_and_the_cookie_secure(
        make_chat: Callable[..., ChatApp]) -> None:
    # The test client's peer is 127.0.0.1: a trusted proxy in one app, a stranger in the other.
    behind = {"X-Forwarded-Proto": "https", "Origin": "https://localhost"}
    trusting = make_chat(auth_trusted_proxies="127.0.0.1").app.test_client()
    assert "Secure" in trusting.get("/", headers=behind).headers["Set-Cookie"]
    assert trusting.post("/conversations/import", headers=behind).status_code == 400
    # Straight over HTTPS the cookie is Secure too, without COOKIE_SECURE.
    direct = make_chat().app.test_client()
    assert "Secure" in direct.get("/", base_url="https://localhost").headers["Set-Cookie"]
    # From anyone else the header is ignored: plain HTTP, and an https page is another origin.
    stranger = make_chat(auth_trusted_proxies="10.0.0.0/8").app.test_client()
    assert "Secure" not in stranger.get("/", headers=behind).headers["Set-Cookie"]
    assert stranger.post("/conversations/import", headers=behind).status_code == 403
