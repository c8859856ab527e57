"""The chat app in-process for the fast test layer: `create_app`, and browser tabs driven
through Flask-SocketIO's test client.

A `Tab` is Flask-SocketIO's test client on a Flask test client that loaded the page (its
cookie names the browser), recording every event so that tests wait on events, not on the
clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_socketio.test_client import SocketIOTestClient

from chatbot import create_app
from harness.fake_llm import WAIT_S

# The origin of the test client's requests (Flask's default SERVER_NAME is localhost).
ORIGIN = "http://localhost"


class _Received(list[dict[str, Any]]):
    """The test client's inbox; every arrival wakes whoever waits on `changed`."""

    def __init__(self, items: list[dict[str, Any]], changed: threading.Condition):
        super().__init__(items)
        self.changed = changed

    def append(self, item: dict[str, Any]) -> None:
        with self.changed:
            super().append(item)
            self.changed.notify_all()


class _RecordingClient(SocketIOTestClient):
    """Flask-SocketIO's test client, its inbox watched. Answers are emitted from worker
    threads; the inbox is only ever read, never drained (draining it races their appends)."""

    def __init__(self, app: Flask, browser: FlaskClient):
        self.changed = threading.Condition()
        super().__init__(app, app.extensions["socketio"], flask_test_client=browser)

    @property
    def queue(self) -> _Received:
        return self._inbox

    @queue.setter
    def queue(self, items: list[dict[str, Any]]) -> None:
        self._inbox = _Received(items, self.changed)


class Tab:
    """One browser tab on the in-process app, used like harness.socketclient.ChatClient
    (events are (name, payload), without its timestamps)."""

    def __init__(self, app: Flask, browser: FlaskClient):
        self.browser = browser
        self._client = _RecordingClient(app, browser)

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def close(self) -> None:
        if self._client.is_connected():
            self._client.disconnect()

    def mark(self) -> int:
        with self._client.changed:
            return len(self._client.queue)

    def events(self, since: int = 0) -> list[tuple[str, Any]]:
        with self._client.changed:
            received = list(self._client.queue[since:])
        return [(e["name"], e["args"][0] if e["args"] else None) for e in received]

    def emit(self, event: str, *payload: Any) -> int:
        """Emit an event; the index from which its replies are recorded."""
        start = self.mark()
        self._client.emit(event, *payload)
        return start

    def send(self, text: str) -> int:
        return self.emit("message", {"text": text})

    def refused(self, event: str, payload: dict[str, Any]) -> str:
        """The `error` (or, for a command, the `notice`) answering `event`."""
        data = self.wait("error", "notice", since=self.emit(event, payload))[1]
        return data.get("message") or data["text"]

    def wait(self, *names: str, since: int = 0, timeout: float = WAIT_S,
             where: Callable[[Any], bool] | None = None) -> tuple[str, Any]:
        """The first event named one of `names` at or after index `since`."""
        def found() -> tuple[str, Any] | None:
            return next(((n, d) for n, d in self.events(since)
                         if n in names and (where is None or where(d))), None)

        with self._client.changed:
            if not self._client.changed.wait_for(found, timeout):
                raise TimeoutError(f"no {names} within {timeout}s; got "
                                   f"{[n for n, _ in self.events(since)]}")
        return found()  # type: ignore[return-value]

    def since(self, start: int, name: str) -> list[Any]:
        return [d for n, d in self.events(start) if n == name]

    def answer(self, start: int) -> tuple[str, str, Any]:
        """The streamed text of the answer to what was sent at `start`, and how it ended."""
        name, data = self.wait("done", "error", since=start)
        return "".join(t["text"] for t in self.since(start, "token")), name, data

    def ask(self, text: str) -> tuple[str, str, Any]:
        return self.answer(self.send(text))

    def history(self) -> dict[str, Any]:
        return self.wait("history")[1]


class ChatApp:
    """`create_app` on a fresh data folder, answering from `llm_url`; its browsers and tabs."""

    def __init__(self, data_dir: Path, llm_url: str, **settings: Any):
        self.data_dir = data_dir
        # One token event per upstream token unless a test is about coalescing.
        self.app = create_app({"data_dir": data_dir, "llm_base_url": f"{llm_url}/v1",
                               "stream_interval_ms": 0, **settings})
        self._tabs: list[Tab] = []

    def browser(self) -> FlaskClient:
        """A browser that loaded the page: it has the cookie naming its conversations."""
        client = self.app.test_client()
        assert client.get("/").status_code == 200
        return client

    def signed_in(self, name: str, password: str) -> FlaskClient:
        """A browser that signed in (AUTH=on) as `name`."""
        client = self.app.test_client()
        response = client.post("/login", data={"name": name, "password": password},
                               headers={"Origin": ORIGIN})
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    def tab(self, browser: FlaskClient | None = None) -> Tab:
        tab = Tab(self.app, browser or self.browser())
        self._tabs.append(tab)
        return tab

    def reload(self, tab: Tab) -> list[dict[str, Any]]:
        """The conversation of `tab` as a reload shows it."""
        return self.tab(tab.browser).history()["messages"]

    def close(self) -> None:
        """Its tabs, and what the app holds open: a suite builds hundreds of apps, and each
        kept its database's three descriptors and its lexical indexes until the end."""
        for tab in self._tabs:
            tab.close()
        services = self.app.extensions["chatbot"]
        services.store.close()
        services.llm.close()
        services.maintenance.close()
        services.library.rag.close()

