"""What every response carries for the browser: a CSP without inline script, no MIME
sniffing, no framing; and the session cookie's flags (HttpOnly, SameSite, Secure on demand)."""

from __future__ import annotations

from collections.abc import Callable

from tests.chatbot.inprocess import ChatApp


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
