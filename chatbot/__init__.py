"""The chat web app: Flask + Flask-SocketIO, streaming answers from an OpenAI-compatible server.

`create_app()` (app.py) builds everything; nothing happens at import. `python -m chatbot`
serves it for development; production runs it under gunicorn (`chatbot:create_app()`).

The folders are the concerns: `web/` (HTTP), `sockets/` (Socket.IO events), `chat/` (one
answer, from a message to `done`), `documents/` (users' documents through rag), `accounts/`
(users, access rules, limits), `db/` (the conversation store), `cli/` (commands besides
serving); the modules at the top are what all of them share (settings, services, logs,
metrics, the instances' bus, DATA_DIR).
"""

from chatbot.app import create_app

__all__ = ["create_app"]
