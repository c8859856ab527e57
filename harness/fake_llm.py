"""The LLM server of the fast test layer: a real HTTP server on loopback speaking the
llmserver dialect the chatbot uses (`/health` with `slots`, `/v1/models`, `/tokenize/count`,
streamed `/v1/chat/completions`), so the chatbot's own HTTP client, timeouts and error
mapping are exercised unchanged.

Its answers are canned: by default it echoes the question; `FakeLLM.reply` scripts one (an
error status, pauses that hold the stream open, a cut connection, garbage).
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

MODEL = "fake-model"
# How often a paused stream looks whether the chatbot hung up, and the server whether it
# is being shut down.
POLL_S = 0.02
WAIT_S = 10.0  # the longest a test waits for something to happen


def words(text: str) -> int:
    """The fake's tokenizer: a word is a token."""
    return len(text.split())


@dataclass
class Reply:
    """How the fake answers one chat completion."""

    tokens: list[str]
    # Streamed before the tokens as `reasoning_content`, as llama-server sends a reasoning
    # model's thoughts (a reply may instead put `<think>…</think>` in its tokens).
    reasoning: list[str] = field(default_factory=list)
    status: int = 200  # not 200: an OpenAI-style error body instead of a stream
    # After this many tokens the stream waits for `proceed()` (or for the chatbot to hang up).
    pauses: tuple[int, ...] = ()
    # "drop": the connection is cut; "garbage": an event that is not JSON; "error": an error
    # event, as llmserver sends when its engine dies mid-answer.
    ending: Literal["done", "drop", "garbage", "error"] = "done"
    usage: bool = True  # a `usage` object in the last chunk, as llama.cpp sends
    gate: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def proceed(self) -> None:
        self.gate.release()


@dataclass
class Call:
    """One chat completion the chatbot asked for."""

    body: dict[str, Any]
    reply: Reply
    sent: int = 0  # tokens written
    hung_up: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)

    @property
    def question(self) -> str:
        return self.body["messages"][-1]["content"]


class FakeLLM:
    """The server, its slot count and context size as /health reports them, its scripted
    replies (by question), and every chat completion asked of it, in order."""

    def __init__(self, slots: int = 4, n_ctx: int = 4096):
        self.slots = slots
        self.n_ctx = n_ctx
        self.calls: list[Call] = []
        self._replies: dict[str, Reply] = {}
        self._cond = threading.Condition()
        self.closing = threading.Event()
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_S,),
                                        daemon=True)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.closing.set()  # paused streams run to their end
        self._server.shutdown()
        self._server.server_close()

    def reply(self, question: str, reply: Reply) -> Reply:
        """Answer `question` (the newest user message, exactly) with `reply`."""
        with self._cond:
            self._replies[question] = reply
        return reply

    def call(self, question: str, timeout: float = WAIT_S) -> Call:
        """The chat completion asked for `question`, once it has arrived."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._find(question), timeout):
                raise TimeoutError(f"no upstream request for {question!r} within {timeout}s; "
                                   f"got {[c.question for c in self.calls]}")
            return self._find(question)  # type: ignore[return-value]

    def _find(self, question: str) -> Call | None:
        return next((c for c in self.calls if c.question == question), None)

    def questions(self) -> list[str]:
        with self._cond:
            return [c.question for c in self.calls]

    def begin(self, body: dict[str, Any]) -> Call:
        question = body["messages"][-1]["content"]
        with self._cond:
            reply = self._replies.get(question) or Reply(["You", " said", ":", f" {question}"])
            call = Call(body, reply)
            self.calls.append(call)
            self._cond.notify_all()
        return call

    def active(self) -> int:
        with self._cond:
            return sum(not c.ended.is_set() for c in self.calls)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stream the chatbot abandoned must not hold up the shutdown

    def __init__(self, fake: FakeLLM):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing a kept-alive connection (the chatbot drops a finished stream's
        # connection) is how HTTP works, not an error; socketserver would print it to the
        # stderr that tests read the chatbot's log lines from.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 with chunked streams: a cut connection is then visibly an incomplete body.
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        fake = self.server.fake
        if self.path == "/health":
            self._json(200, {"status": "ok", "model": MODEL, "models": [MODEL],
                             "n_ctx": fake.n_ctx, "active": fake.active(), "engine": "fake",
                             "slots": fake.slots})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 0, "owned_by": "fake",
                 "meta": {"n_ctx": fake.n_ctx}}]})
        else:
            self._error(404, f"No route GET {self.path}.")

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if self.path == "/tokenize/count":
            self._json(200, {"count": words(body["input"])})
        elif self.path == "/v1/chat/completions":
            call = self.server.fake.begin(body)
            try:
                self._stream(call)
            except (BrokenPipeError, ConnectionResetError):
                call.hung_up.set()
                self.close_connection = True
            finally:
                call.ended.set()
        else:
            self._error(404, f"No route POST {self.path}.")

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": {"message": message, "type": "server_error",
                                      "param": None, "code": None}})

    def _stream(self, call: Call) -> None:
        reply = call.reply
        if reply.status != 200:
            self._error(reply.status, f"canned failure {reply.status}")
            return
        tokens = reply.tokens[: call.body.get("max_tokens") or None]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for thought in reply.reasoning:
            self._event({"choices": [{"index": 0, "delta": {"reasoning_content": thought},
                                      "finish_reason": None}]})
        for token in tokens:
            if not self._pause(call):
                return
            self._event({"choices": [{"index": 0, "delta": {"content": token},
                                      "finish_reason": None}]})
            call.sent += 1
        if not self._pause(call):
            return
        if reply.ending == "drop":
            self.close_connection = True
            return
        if reply.ending == "garbage":
            self._chunk(b'data: {"choices": [\n\n')
        elif reply.ending == "error":
            self._event({"error": {"message": "the engine crashed", "type": "server_error"}})
        else:
            prompt = sum(words(m["content"]) for m in call.body["messages"])
            final: dict[str, Any] = {"choices": [{"index": 0, "delta": {}, "finish_reason":
                                                  "length" if len(tokens) < len(reply.tokens)
                                                  else "stop"}]}
            if reply.usage:
                written = len(reply.reasoning) + len(tokens)
                final["usage"] = {"prompt_tokens": prompt, "completion_tokens": written,
                                  "total_tokens": prompt + written}
            self._event(final)
            self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _pause(self, call: Call) -> bool:
        """Wait here if the reply pauses after the tokens sent so far; False: hung up."""
        if call.sent not in call.reply.pauses:
            return True
        while not call.reply.gate.acquire(timeout=POLL_S):
            if self.server.fake.closing.is_set():
                return True
            if self._hung_up():
                call.hung_up.set()
                self.close_connection = True
                return False
        return True

    def _hung_up(self) -> bool:
        # The chatbot sends nothing while it reads a response: readable means closed.
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except ConnectionResetError:
            return True

    def _event(self, chunk: dict[str, Any]) -> None:
        payload = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                   "model": MODEL, **chunk}
        self._chunk(f"data: {json.dumps(payload)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
