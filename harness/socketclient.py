"""A browser stand-in for tests and benchmarks: the official python-socketio client with the
page's cookie, recording every event it receives."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import socketio

Event = tuple[float, str, Any]


def page_cookie(base_url: str) -> str:
    """Load the page as a browser would, and return the signed cookie it sets."""
    response = httpx.get(f"{base_url}/", timeout=10)
    response.raise_for_status()
    return "; ".join(f"{name}={value}" for name, value in response.cookies.items())


def signed_in_cookie(base_url: str, name: str, password: str) -> str:
    """Sign in as a browser would (AUTH=on), and return the session cookie."""
    response = httpx.post(f"{base_url}/login", data={"name": name, "password": password},
                          headers={"Origin": base_url}, timeout=10)
    if response.status_code != 302:
        raise RuntimeError(f"sign-in as {name} failed: HTTP {response.status_code}")
    return "; ".join(f"{k}={v}" for k, v in response.cookies.items())


class ChatClient:
    def __init__(self, base_url: str, cookie: str | None = None):
        self.base_url = base_url
        self.cookie = cookie or page_cookie(base_url)
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self._record)

    def _record(self, event: str, data: Any = None) -> None:
        with self._cond:
            self.events.append((time.perf_counter(), event, data))
            self._cond.notify_all()

    def connect(self) -> ChatClient:
        self.sio.connect(self.base_url, headers={"Cookie": self.cookie},
                         transports=["websocket"], wait_timeout=10)
        self.wait("history")
        return self

    def close(self) -> None:
        self.sio.disconnect()

    def __enter__(self) -> ChatClient:
        return self.connect()

    def __exit__(self, *_: object) -> None:
        self.close()

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def wait(self, *names: str, since: int = 0, timeout: float = 120,
             where: Callable[[Any], bool] | None = None) -> Event:
        """The first event named one of `names` received at or after index `since`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[since:]:
                    if event[1] in names and (where is None or where(event[2])):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {names} within {timeout}s; got "
                                       f"{[e[1] for e in self.events[since:]]}")
                self._cond.wait(left)

    def since(self, index: int, name: str) -> list[Any]:
        with self._cond:
            return [data for _, event, data in self.events[index:] if event == name]

    def emit(self, event: str, payload: Any) -> int:
        """Emit an event; the index from which its replies are recorded."""
        start = self.mark()
        self.sio.emit(event, payload)
        return start

    def send(self, text: str) -> int:
        return self.emit("message", {"text": text})

    def ask(self, text: str, timeout: float = 120) -> tuple[str, Event]:
        """Send a message; the streamed answer text and the closing `done` or `error`."""
        start = self.send(text)
        end = self.wait("done", "error", since=start, timeout=timeout)
        return "".join(t["text"] for t in self.since(start, "token")), end
