"""Small names several chatbot modules share, kept here so that none imports another for them:
the Socket.IO room of a browser, the app's version, and the callables through which the
answer's modules reach Socket.IO and background threads without importing it.

Rooms: each socket sits in its conversation's room (named by the conversation's id: answers
stream there, so every tab showing it follows along) and in its browser's room (sidebar
changes and ingestion progress reach all of that browser's tabs).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# emit(event, payload, room): to the sockets in that room; room None: to every socket.
Emit = Callable[[str, dict[str, Any], str | None], None]
# spawn(function, *args): run it in a background thread of the Socket.IO server's kind.
Spawn = Callable[..., Any]


def browser_room(browser: str) -> str:
    return f"browser:{browser}"


def app_version() -> str:
    try:
        return version("localchat")
    except PackageNotFoundError:
        return "unknown"
