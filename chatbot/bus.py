"""What the chatbot instances of one deployment tell each other beyond the browsers' events.

With REDIS_URL set, several instances serve one product. Flask-SocketIO's message queue
carries what browsers are sent, so an answer streaming on instance A reaches a tab connected
to instance B; but it carries no state and cannot ask A to do anything. Two rules of the chat
need that, and this module is their only channel:

- one answer at a time per conversation, whichever instance the message reaches: an instance
  claims the conversation (a Redis key naming the answer, with an expiry it renews while the
  answer runs, so a crashed instance does not lock the conversation for good) and releases
  it when the answer ends;
- a stop that reaches another instance than the one writing the answer: published on a
  channel every instance listens to; the writer stops it, upstream too.

A third rule is the accounts': signing out closes that sign-in's sockets on every instance,
not only on the one that took the sign-out (a client that ignores the `signed_out` event
would otherwise keep a socket open elsewhere until its next event).

Nothing crosses the bus per token: a claim and a release per answer, one message per stop.
Without REDIS_URL there is one instance and `LocalBus` stands in: every claim is granted (the
chat's own table of answers refuses a second one) and there is nobody else to stop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

import redis

from chatbot.errors import BusDown

log = logging.getLogger("chatbot.bus")

# on_stop(conversation_id, shown): stop this instance's answer in that conversation.
StopHandler = Callable[[str, int | None], object]
# on_sign_out(login): close this instance's sockets of that sign-in.
SignOutHandler = Callable[[str], object]

KEY_PREFIX = "localchat:answering:"
STOP_CHANNEL = "localchat:stop"
SIGN_OUT_CHANNEL = "localchat:signed-out"
# A claim outlives its instance by at most this long; renewed every third of it.
CLAIM_TTL_MS = 30_000
RENEW_S = CLAIM_TTL_MS / 3000

# Compare-and-act, so an instance never renews or deletes a claim that expired and was
# taken by another instance meanwhile. Renewing also puts back a claim Redis lost (a
# restart without persistence) while its answer is still being written.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
_RENEW = ("local held = redis.call('get', KEYS[1]) "
          "if held == ARGV[1] or not held then "
          "return redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) end")



class Bus(Protocol):
    def listen(self, on_stop: StopHandler) -> None:
        """Call `on_stop` for each stop another instance sends for an answer claimed here."""

    def claim(self, conversation_id: str) -> bool:
        """Mark the conversation as being answered here; False when another instance is."""

    def release(self, conversation_id: str) -> None:
        """The answer claimed here ended."""

    def elsewhere(self, conversation_id: str) -> str | None:
        """The id of the answer another instance is writing in the conversation, if any."""

    def stop(self, conversation_id: str, shown: int | None) -> bool:
        """Ask the instance writing the conversation's answer to stop it; False when no
        other instance is."""

    def ready(self, timeout: float) -> dict[str, object] | None:
        """`{"reachable": bool, ...}` for the readiness check; None with nothing to reach."""

    def on_sign_out(self, handler: SignOutHandler) -> None:
        """Call `handler` for each sign-out another instance (or this one) announces."""

    def sign_out(self, login: str) -> None:
        """Tell every instance that sign-in `login` ended."""


class LocalBus:
    """One instance: nobody else to claim against, listen to or stop."""

    def listen(self, on_stop: StopHandler) -> None:
        pass

    def claim(self, conversation_id: str) -> bool:
        return True

    def release(self, conversation_id: str) -> None:
        pass

    def elsewhere(self, conversation_id: str) -> str | None:
        return None

    def stop(self, conversation_id: str, shown: int | None) -> bool:
        return False

    def ready(self, timeout: float) -> dict[str, object] | None:
        return None

    def on_sign_out(self, handler: SignOutHandler) -> None:
        pass

    def sign_out(self, login: str) -> None:
        pass


class RedisBus:
    """Claims as Redis keys, stops on a Redis pub/sub channel."""

    def __init__(self, url: str):
        self._url = url
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._release = self._redis.register_script(_RELEASE)
        self._renew = self._redis.register_script(_RENEW)
        # conversation id -> id of the answer this instance claimed it for.
        self._held: dict[str, str] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener: threading.Thread | None = None
        self._on_sign_out: SignOutHandler | None = None

    def listen(self, on_stop: StopHandler) -> None:
        self._listener = threading.Thread(target=self._listen, args=(on_stop,),
                                          name="chatbot-bus", daemon=True)
        self._listener.start()

    def close(self) -> None:
        """Stop listening (within a second) and let go of the connections."""
        self._closed.set()
        if self._listener is not None:
            self._listener.join()
        self._redis.close()

    def ready(self, timeout: float) -> dict[str, object] | None:
        # A client of its own: the shared one waits as long as an answer's commands may.
        probe = redis.Redis.from_url(self._url, socket_timeout=timeout,
                                     socket_connect_timeout=timeout)
        try:
            probe.ping()
        except redis.RedisError as exc:
            return {"reachable": False, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            probe.close()
        return {"reachable": True}

    def on_sign_out(self, handler: SignOutHandler) -> None:
        self._on_sign_out = handler

    def sign_out(self, login: str) -> None:
        try:
            self._redis.publish(SIGN_OUT_CHANNEL, json.dumps({"login": login}))
        except redis.RedisError as exc:
            # The session is already deleted: another instance's socket of it is refused
            # at its next event, only not closed now.
            log.warning("could not announce a sign-out to the other instances: %s", exc)

    def claim(self, conversation_id: str) -> bool:
        answer_id = uuid.uuid4().hex
        try:
            granted = self._redis.set(KEY_PREFIX + conversation_id, answer_id, nx=True,
                                      px=CLAIM_TTL_MS)
        except redis.RedisError as exc:
            raise BusDown("The chat cannot reach its Redis server (REDIS_URL); "
                          "try again in a moment.") from exc
        if granted:
            with self._lock:
                self._held[conversation_id] = answer_id
        return bool(granted)

    def release(self, conversation_id: str) -> None:
        with self._lock:
            answer_id = self._held.pop(conversation_id, None)
        if answer_id is None:
            return
        try:
            self._release(keys=[KEY_PREFIX + conversation_id], args=[answer_id])
        except redis.RedisError:
            log.warning("could not release conversation %s; its claim expires in %d s",
                        conversation_id, CLAIM_TTL_MS // 1000)

    def elsewhere(self, conversation_id: str) -> str | None:
        answer_id = self._redis.get(KEY_PREFIX + conversation_id)
        with self._lock:
            mine = self._held.get(conversation_id)
        return answer_id if isinstance(answer_id, str) and answer_id != mine else None

    def stop(self, conversation_id: str, shown: int | None) -> bool:
        answer_id = self.elsewhere(conversation_id)
        if answer_id is None:
            return False
        self._redis.publish(STOP_CHANNEL, json.dumps(
            {"conversation": conversation_id, "answer": answer_id, "shown": shown}))
        return True

    def _listen(self, on_stop: StopHandler) -> None:
        """Deliver stops and sign-outs and renew this instance's claims, for the life of the
        process; a lost connection is retried (the claims last CLAIM_TTL_MS meanwhile)."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        renew_at = time.monotonic() + RENEW_S
        while not self._closed.is_set():
            try:
                if not pubsub.subscribed:
                    pubsub.subscribe(STOP_CHANNEL, SIGN_OUT_CHANNEL)
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    pass
                elif message["channel"] == SIGN_OUT_CHANNEL:
                    if self._on_sign_out is not None:
                        self._on_sign_out(json.loads(message["data"])["login"])
                else:
                    self._deliver(message["data"], on_stop)
                if time.monotonic() >= renew_at:
                    self._renew_claims()
                    renew_at = time.monotonic() + RENEW_S
            except redis.RedisError as exc:
                if not self._closed.is_set():
                    log.warning("Redis bus: %s; retrying", exc)
                    self._closed.wait(1.0)
            except Exception:
                log.exception("Redis bus: could not handle a message")
        pubsub.close()

    def _deliver(self, data: str, on_stop: StopHandler) -> None:
        request = json.loads(data)
        conversation_id = request["conversation"]
        with self._lock:
            ours = self._held.get(conversation_id) == request["answer"]
        # A stop for an answer that already ended here must not stop the next one.
        if ours:
            on_stop(conversation_id, request.get("shown"))

    def _renew_claims(self) -> None:
        with self._lock:
            held = list(self._held.items())
        for conversation_id, answer_id in held:
            self._renew(keys=[KEY_PREFIX + conversation_id], args=[answer_id, CLAIM_TTL_MS])


def connect(redis_url: str | None) -> Bus:
    return RedisBus(redis_url) if redis_url else LocalBus()
