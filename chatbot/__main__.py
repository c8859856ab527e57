"""`python -m chatbot` / `chatbot`: serve the chat page for development and local use.

Werkzeug's threaded server with simple-websocket; for many users run gunicorn instead
(README: "Production").
"""

from __future__ import annotations

import argparse
import socket
import sys

from werkzeug.serving import WSGIRequestHandler, make_server

from chatbot import create_app
from chatbot.services import Services


class _RequestHandler(WSGIRequestHandler):
    def run_wsgi(self) -> None:
        super().run_wsgi()
        if self.headers.get("Upgrade", "").lower() == "websocket":
            # The connection was the WebSocket's: what the browser still sends on it after
            # the socket ends (its close frame) is not another HTTP request, and reading it
            # as one logged "Bad request syntax" each time a tab closed.
            self.close_connection = True


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["users"]:
        from chatbot.cli import users

        sys.exit(users.main(argv[1:]))
    if argv[:1] == ["jobs"]:
        from chatbot.cli import jobs

        sys.exit(jobs.main(argv[1:]))
    if argv[:1] == ["chat"]:
        from chatbot.cli import terminal

        sys.exit(terminal.main(argv[1:]))
    parser = argparse.ArgumentParser(
        prog="chatbot",
        description="The chat web app. Configured from the environment (CHATBOT_HOST, "
        "CHATBOT_PORT, LLM_BASE_URL, DATA_DIR, ...; see the README); flags override it. "
        "`chatbot chat --help`: chat in the terminal; `chatbot users --help`: managing "
        "accounts; `chatbot jobs --help`: the ingestion jobs of a running chatbot.")
    parser.add_argument("--host", help="bind address (CHATBOT_HOST)")
    parser.add_argument("--port", type=int, help="port (CHATBOT_PORT)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    app = create_app(overrides)
    s: Services = app.extensions["chatbot"]
    # A wildcard bind address is not something a browser can open.
    shown_host = "127.0.0.1" if s.settings.host in ("0.0.0.0", "::") else s.settings.host
    print(f"chatbot: open http://{shown_host}:{s.settings.port}/ in your browser "
          f"(answers from {s.settings.llm_base_url})", flush=True)
    # Werkzeug's threaded server, as SocketIO.run would start it in threading mode, but with
    # Nagle's algorithm off (gunicorn does the same): otherwise a small frame written right
    # after another waits for the browser's delayed ACK, adding up to 40 ms to an answer.
    server = make_server(s.settings.host, s.settings.port, app, threaded=True,
                         request_handler=_RequestHandler)
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
