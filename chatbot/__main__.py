"""`python -m chatbot` / `chatbot`: serve the chat page for development and local use.

Werkzeug's threaded server with simple-websocket; for many users run gunicorn instead
(README: "Production").
"""

from __future__ import annotations

import argparse
import logging

from chatbot import create_app
from chatbot.services import Services


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="chatbot",
        description="The chat web app. Configured from the environment (CHATBOT_HOST, "
        "CHATBOT_PORT, LLM_BASE_URL, DATA_DIR, ...; see the README); flags override it.")
    parser.add_argument("--host", help="bind address (CHATBOT_HOST)")
    parser.add_argument("--port", type=int, help="port (CHATBOT_PORT)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Werkzeug logs every HTTP request, including each long-polling round trip.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # httpx logs every request to the LLM server at INFO: one line per turn is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    overrides = {k: v for k, v in vars(args).items() if v is not None}
    app = create_app(overrides)
    s: Services = app.extensions["chatbot"]
    # A wildcard bind address is not something a browser can open.
    shown_host = "127.0.0.1" if s.settings.host in ("0.0.0.0", "::") else s.settings.host
    print(f"chatbot: open http://{shown_host}:{s.settings.port}/ in your browser "
          f"(answers from {s.settings.llm_base_url})", flush=True)
    s.socketio.run(app, host=s.settings.host, port=s.settings.port,
                   allow_unsafe_werkzeug=True, log_output=False)


if __name__ == "__main__":
    main()
