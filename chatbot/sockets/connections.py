"""Engine.IO connections per client address, and the deadline of the Socket.IO handshake.

Every open Engine.IO connection (a WebSocket, or a long-polling session whose requests wait
up to the ping interval) holds one of gunicorn's threads. Socket.IO's own `connect` event
runs only once the client sends its CONNECT packet (`40`), so counting there let one client
open hundreds of raw Engine.IO connections that never send it, answer pings, and hold every
thread. Here the count starts at Engine.IO's `connect` (the first request, before any
handshake):

- an address with MAX_SOCKETS_PER_ADDRESS + GRACE Engine.IO connections is refused at once
  (HTTP 401, no thread kept); the GRACE few past the cap are let in only so that an honest
  page opening one tab too many hears why (sockets/base.py refuses it with a sentence);
- a connection that has not completed the Socket.IO handshake within
  SOCKET_HANDSHAKE_TIMEOUT seconds (or that left Socket.IO and kept Engine.IO open) is
  closed, which ends the thread serving it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from flask_socketio import SocketIO

from chatbot.metrics import Metrics
from chatbot.settings import Settings
from chatbot.web import proxies

log = logging.getLogger("chatbot.sockets.connections")

# The Engine.IO id of a connection, put in its WSGI environ, which Flask-SocketIO hands to
# every Socket.IO event of that connection as `request.environ`.
ENVIRON_KEY = "chatbot.eio_sid"
# Engine.IO connections past the cap still accepted, to be refused by Socket.IO with words.
GRACE = 5
CHECK_EVERY_S = 1.0


class Connections:
    def __init__(self, socketio: SocketIO, settings: Settings, metrics: Metrics):
        self.socketio = socketio
        self.cap = settings.max_sockets_per_address
        self.deadline_s = settings.socket_handshake_timeout
        self.networks = settings.trusted_proxies
        self.metrics = metrics
        self._lock = threading.Lock()
        self._address: dict[str, str] = {}  # Engine.IO sid: its client's address
        self._open: Counter[str] = Counter()  # Engine.IO connections per address
        self._pending: dict[str, float] = {}  # Engine.IO sid: when it must have shaken hands
        self._sockets: Counter[str] = Counter()  # Socket.IO connections per address
        self._refusals: Counter[str] = Counter()  # refused in a row, per address
        self._reaper_started = False

    def install(self) -> None:
        """Wrap Socket.IO's own Engine.IO handlers (after SocketIO(app) made them)."""
        eio = self.socketio.server.eio  # type: ignore[union-attr]
        connect: Callable[..., Any] = eio.handlers["connect"]
        disconnect: Callable[..., Any] = eio.handlers["disconnect"]

        def on_connect(eio_sid: str, environ: dict[str, Any]) -> Any:
            if not self._opened(eio_sid, environ):
                return False  # Engine.IO answers 401 and keeps nothing
            return connect(eio_sid, environ)

        def on_disconnect(eio_sid: str, *reason: Any) -> Any:
            self._closed(eio_sid)
            return disconnect(eio_sid, *reason)

        eio.on("connect", on_connect)
        eio.on("disconnect", on_disconnect)

    # Engine.IO ------------------------------------------------------------------------

    def _opened(self, eio_sid: str, environ: dict[str, Any]) -> bool:
        address = proxies.client_address(environ, self.networks)
        with self._lock:
            if self.cap and self._open[address] >= self.cap + GRACE:
                refused = True
            else:
                refused = False
                self._open[address] += 1
                self._address[eio_sid] = address
                self._pending[eio_sid] = time.monotonic() + self.deadline_s
                start = not self._reaper_started
                self._reaper_started = True
        if refused:
            self.metrics.refused_connections.inc()
            if self._refusals[address] == 0:
                # Once per burst: a client refused thousands of times must not flood the log.
                log.warning("refusing Engine.IO connections from %s: %d already open",
                            address, self.cap + GRACE)
            self._refusals[address] += 1
            return False
        self._refusals.pop(address, None)
        environ[ENVIRON_KEY] = eio_sid
        if start:
            self.socketio.start_background_task(self._reap)
        return True

    def _closed(self, eio_sid: str) -> None:
        # Idempotent: Engine.IO may call a handler again with fewer arguments.
        with self._lock:
            self._pending.pop(eio_sid, None)
            address = self._address.pop(eio_sid, None)
            if address is not None:
                self._open[address] -= 1
                if self._open[address] <= 0:
                    del self._open[address]

    def _reap(self) -> None:
        """Close the connections past their handshake deadline, forever (a daemon task)."""
        eio = self.socketio.server.eio  # type: ignore[union-attr]
        while True:
            self.socketio.sleep(CHECK_EVERY_S)
            now = time.monotonic()
            with self._lock:
                late = [sid for sid, due in self._pending.items() if due <= now]
                for sid in late:
                    del self._pending[sid]
            for sid in late:
                # Not eio.disconnect(): it waits until the client reads the close packet,
                # which a long-polling client that stopped polling never does.
                socket = eio.sockets.pop(sid, None)
                try:
                    if socket is not None:
                        socket.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
                except Exception:  # the connection broke meanwhile: it is gone either way
                    log.debug("closing %s failed", sid, exc_info=True)
                self._closed(sid)
                self.metrics.handshake_timeouts.inc()
            if late:
                log.info("closed %d connections without a Socket.IO handshake", len(late))

    # Socket.IO ------------------------------------------------------------------------

    def admit(self, address: str, environ: dict[str, Any]) -> str | None:
        """A Socket.IO connection from `address` completes its handshake: None, counting it
        (the caller must `release` it), or the sentence refusing it."""
        with self._lock:
            if self.cap and self._sockets[address] >= self.cap:
                refused = True
            else:
                refused = False
                self._sockets[address] += 1
                self._pending.pop(environ.get(ENVIRON_KEY, ""), None)
        if refused:
            self.metrics.refused_connections.inc()
            log.warning("refused a connection: %d already open from %s", self.cap, address)
            return (f"Too many open tabs from your address (at most {self.cap}). Close some "
                    "and reload this page.")
        return None

    def release(self, address: str, environ: dict[str, Any]) -> None:
        """A Socket.IO connection `admit` counted has ended. Its Engine.IO connection, if
        still open, gets a new deadline: a client may leave Socket.IO and keep that open."""
        with self._lock:
            self._sockets[address] -= 1
            if self._sockets[address] <= 0:
                del self._sockets[address]
            eio_sid = environ.get(ENVIRON_KEY)
            if eio_sid in self._address:
                self._pending[eio_sid] = time.monotonic() + self.deadline_s
