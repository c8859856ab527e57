"""Several chatbot instances as one product: the production command (gunicorn, as `make run
PROD=1` and the image run it), two instances sharing a data folder and Debian's redis-server,
and the bus between them (chatbot/bus.py).

The bus tests need only Redis; the instance tests also start one real llmserver for the
module, and keep answers short unless a stop needs a long one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis
import yaml

from chatbot.bus import CLAIM_TTL_MS, KEY_PREFIX, STOP_CHANNEL, RedisBus
from chatbot.chat.chat import BUSY
from harness.processes import (
    REDIS_SERVER,
    ROOT,
    chatbot_instances,
    free_port,
    generating_upstream,
    llmserver,
    redis_server,
    wait_until,
)
from harness.socketclient import ChatClient
from scripts.run import GUNICORN_OPTIONS

if not REDIS_SERVER.exists():
    pytest.skip(f"{REDIS_SERVER} missing: `make test` installs it (apt-get install "
                "redis-server)", allow_module_level=True)

# A prompt the default base model keeps continuing at temperature 0 until max_tokens.
ENDLESS = "Continue this sequence without stopping: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    with llmserver(LLM_N_CTX="2048") as url:
        yield url


@pytest.fixture(scope="module")
def instances(llm_url: str, redis_url: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two instances on one data folder, started at once (they race to create the database
    and the cookie key)."""
    with chatbot_instances(llm_url, tmp_path_factory.mktemp("shared-data"), 2,
                           REDIS_URL=redis_url) as bases:
        yield bases


@pytest.fixture
def buses(redis_url: str) -> Iterator[Callable[[], RedisBus]]:
    """Makes buses as two instances would; closed after the test."""
    made: list[RedisBus] = []

    def make() -> RedisBus:
        made.append(RedisBus(redis_url))
        return made[-1]

    yield make
    for bus in made:
        bus.close()




def endless(client: ChatClient) -> int:
    """Ask for an answer long enough to be stopped; the index its events start at."""
    client.wait("settings", since=client.emit("settings", {"temperature": 0,
                                                           "max_tokens": 1000}))
    return client.send(ENDLESS)


class PollingClient(ChatClient):
    """A browser whose WebSocket is blocked (a proxy without upgrade headers): long-polling."""

    def connect(self) -> PollingClient:
        self.sio.connect(self.base_url, headers={"Cookie": self.cookie},
                         transports=["polling"], wait_timeout=10)
        self.wait("history")
        return self


# The production command ----------------------------------------------------------------

def test_make_run_prod_starts_the_images_command() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["chatbot"]["command"]
    assert command[0] == "gunicorn" and command[-1] == "chatbot:create_app()"
    assert command[1:1 + len(GUNICORN_OPTIONS)] == GUNICORN_OPTIONS


@pytest.mark.slow
def test_websocket_under_gunicorn_and_long_polling_when_it_is_blocked(
        instances: list[str]) -> None:
    with ChatClient(instances[0]) as websocket:
        assert websocket.sio.transport() == "websocket"
        text, end = websocket.ask("Say hello.")
        assert end[1] == "done" and text
    with PollingClient(instances[0]) as polling:
        assert polling.sio.transport() == "polling"
        text, end = polling.ask("Say hello.")
        assert end[1] == "done" and text


# Two instances, one product -------------------------------------------------------------

@pytest.mark.slow
def test_an_answer_asked_on_one_instance_streams_to_a_tab_on_the_other(
        instances: list[str]) -> None:
    a_url, b_url = instances
    with ChatClient(a_url) as a, ChatClient(b_url, cookie=a.cookie) as b:
        # The cookie signed by A is valid on B: both made or read the same key.
        assert b.wait("history")[2]["conversation"] == a.wait("history")[2]["conversation"]
        start_b = b.mark()
        text, end = a.ask("What is the capital of France?")
        done_b = b.wait("done", "error", since=start_b)
        assert end[1] == done_b[1] == "done"
        assert b.since(start_b, "user_message") == [{"text": "What is the capital of France?"}]
        assert "".join(t["text"] for t in b.since(start_b, "token")) == text
        assert done_b[2]["id"] == end[2]["id"]
        b.wait("status", since=start_b, where=lambda s: s["state"] == "idle")


@pytest.mark.slow
def test_a_stop_on_the_other_instance_stops_the_answer_upstream_too(
        instances: list[str], llm_url: str) -> None:
    a_url, b_url = instances
    with ChatClient(a_url) as a, ChatClient(b_url, cookie=a.cookie) as b:
        start_b = b.mark()
        start_a = endless(a)
        b.wait("token", since=start_b)
        # One answer at a time per conversation, whichever instance a message reaches.
        refused = b.wait("error", since=b.send("And another question."))[2]
        assert refused == {"message": BUSY}
        shown = b.since(start_b, "token")
        stopped_b = b.emit("stop", {"shown": len(shown)})
        done_a = a.wait("done", "error", since=start_a)[2]
        done_b = b.wait("done", "error", since=stopped_b)[2]
        assert done_a["stopped"] is True and done_b == done_a
        # 1000 tokens would take the model a minute or more; it stops within moments.
        wait_until(lambda: generating_upstream(llm_url) == 0, "llmserver generation ended")
    with ChatClient(a_url, cookie=a.cookie) as again:
        last = again.wait("history")[2]["messages"][-1]
    # Kept: exactly what the stopping tab, on the other instance, had shown.
    assert last["state"] == "stopped"
    assert last["content"] == "".join(t["text"] for t in shown)


@pytest.mark.slow
def test_a_tab_opened_on_the_other_instance_mid_answer_follows_and_can_stop_it(
        instances: list[str]) -> None:
    a_url, b_url = instances
    with ChatClient(a_url) as a:
        start_a = endless(a)
        a.wait("token", since=start_a)
        with ChatClient(b_url, cookie=a.cookie) as late:
            question = late.wait("history")[2]["messages"][-1]
            assert question["role"] == "user" and question["content"] == ENDLESS
            late.wait("token", since=late.mark())
            # Its page counted only the pieces since it opened: that count is not the
            # answer's, so the answer keeps every piece sent.
            late.emit("stop", {"shown": 1})
            done = a.wait("done", "error", since=start_a)[2]
        assert done["stopped"] is True
        sent = "".join(t["text"] for t in a.since(start_a, "token"))
    with ChatClient(b_url, cookie=a.cookie) as again:
        last = again.wait("history")[2]["messages"][-1]
    assert last["state"] == "stopped" and last["content"] == sent


@pytest.mark.slow
def test_both_instances_show_the_same_conversations(instances: list[str]) -> None:
    a_url, b_url = instances
    with ChatClient(a_url) as a:
        a.ask("Say hello.")
        a.wait("history", since=a.emit("reset", {}))
        a.ask("Name a colour.")
    views = []
    for url in (a_url, b_url):
        with ChatClient(url, cookie=a.cookie) as tab:
            history = tab.wait("history")[2]
            listing = tab.wait("conversations")[2]["conversations"]
            views.append((history["conversation"]["id"], history["messages"], listing))
    assert views[0] == views[1]
    assert [m["content"] for m in views[0][1]][0] == "Name a colour."
    assert len(views[0][2]) == 2


# The bus alone -------------------------------------------------------------------------

def test_one_instance_at_a_time_answers_a_conversation(
        buses: Callable[[], RedisBus]) -> None:
    a, b = buses(), buses()
    assert a.claim("c1") and not b.claim("c1")
    assert b.elsewhere("c1") is not None and a.elsewhere("c1") is None
    assert b.claim("c2")  # other conversations are free
    a.release("c1")
    assert b.claim("c1") and a.elsewhere("c1") is not None
    b.release("c1")
    b.release("c2")


def test_a_stop_reaches_only_the_instance_writing_that_answer(
        redis_url: str, buses: Callable[[], RedisBus]) -> None:
    stops: dict[str, list[tuple[str, int | None]]] = {"a": [], "b": []}
    arrived = threading.Condition()

    def recorder(name: str) -> Callable[[str, int | None], None]:
        def on_stop(conversation_id: str, shown: int | None) -> None:
            with arrived:
                stops[name].append((conversation_id, shown))
                arrived.notify_all()
        return on_stop

    a, b = buses(), buses()
    a.listen(recorder("a"))
    b.listen(recorder("b"))
    wait_until(lambda: stop_listeners(redis_url) >= 2, "both buses subscribed")
    assert a.claim("s1")
    assert not a.stop("s1", 3)  # nobody else is writing it
    assert b.stop("s1", 3)
    with arrived:
        assert arrived.wait_for(lambda: stops["a"], timeout=10)
    assert stops == {"a": [("s1", 3)], "b": []}
    # A stop meant for an answer that ended must not stop the next one.
    stale = b.elsewhere("s1")
    a.release("s1")
    assert not b.stop("s1", None)
    assert a.claim("s1") and b.elsewhere("s1") != stale
    a.release("s1")


def test_a_claim_expires_if_its_instance_dies_and_release_removes_it(
        redis_url: str, buses: Callable[[], RedisBus]) -> None:
    bus = buses()
    assert bus.claim("t1")
    with redis.Redis.from_url(redis_url) as client:
        key = KEY_PREFIX + "t1"
        assert 0 < client.pttl(key) <= CLAIM_TTL_MS
        bus.release("t1")
        assert not client.exists(key)


@pytest.mark.slow
def test_readiness_names_redis_when_it_does_not_answer(instances: list[str]) -> None:
    ready = httpx.get(f"{instances[0]}/healthz?ready=1", timeout=10)
    assert ready.status_code == 200 and ready.json()["redis"] == {"reachable": True}
    closed = RedisBus(f"redis://127.0.0.1:{free_port()}/0").ready(timeout=2)
    assert closed is not None and closed["reachable"] is False and closed["error"]


def stop_listeners(redis_url: str) -> int:
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        return dict(client.pubsub_numsub(STOP_CHANNEL)).get(STOP_CHANNEL, 0)
