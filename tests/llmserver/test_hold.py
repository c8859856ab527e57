"""The hold (LLM_HOLD_MS): requests that arrive together are released together, a lone one
waits no longer than the hold, one that arrives while others run is not held, and a held
request whose client goes away frees its place.

First the rules on `Hold` itself (in-process, milliseconds), then the same behaviour through
a real llmserver and llama-server, timed at the client with margins wide enough for a loaded
machine.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from harness.processes import llmserver
from llmserver.hold import Hold

ALIAS = "gemma-3-270m-q4_k_m"


async def request(hold: Hold, log: list[tuple[str, float]], name: str,
                  runs_for: float = 0.0) -> None:
    """One request through the hold: logs when it went to llama-server; stays there
    `runs_for` seconds."""
    loop = asyncio.get_running_loop()
    async with hold.turn() as released:
        if released is not None:
            await released
        log.append((name, loop.time()))
        await asyncio.sleep(runs_for)


def test_requests_arriving_together_are_released_together_when_the_hold_ends() -> None:
    async def scenario() -> None:
        hold, log = Hold(0.2, slots=4), []
        start = asyncio.get_running_loop().time()
        first = asyncio.ensure_future(request(hold, log, "first"))
        await asyncio.sleep(0.05)
        await asyncio.gather(first, request(hold, log, "second"))
        assert [name for name, _ in log] == ["first", "second"]  # in arrival order
        assert all(0.19 <= at - start <= 0.3 for _, at in log)
        assert hold.running == 0

    asyncio.run(scenario())


def test_a_held_group_is_released_as_soon_as_it_fills_the_free_slots() -> None:
    async def scenario() -> None:
        hold, log = Hold(5.0, slots=3), []
        start = asyncio.get_running_loop().time()
        await asyncio.gather(*(request(hold, log, str(i)) for i in range(3)))
        assert sorted(name for name, _ in log) == ["0", "1", "2"]
        assert all(at - start < 0.1 for _, at in log)

    asyncio.run(scenario())


def test_a_request_arriving_while_others_run_is_not_held() -> None:
    async def scenario() -> None:
        hold, log = Hold(5.0, slots=4), []
        loop = asyncio.get_running_loop()
        # Four at once fill the slots and run; one of them for a while.
        running = asyncio.gather(*(request(hold, log, f"r{i}", runs_for)
                                   for i, runs_for in enumerate((1.0, 0, 0, 0))))
        await asyncio.sleep(0.1)
        assert hold.running == 1
        arrived = loop.time()
        await request(hold, log, "late")
        assert log[-1][1] - arrived < 0.05
        await running

    asyncio.run(scenario())


def test_a_held_request_that_ends_before_its_release_frees_its_place() -> None:
    async def scenario() -> None:
        hold, log = Hold(0.5, slots=3), []
        start = asyncio.get_running_loop().time()
        first = asyncio.ensure_future(request(hold, log, "first"))
        gone = asyncio.ensure_future(request(hold, log, "gone"))
        await asyncio.sleep(0.05)
        gone.cancel()  # its client went away
        with pytest.raises(asyncio.CancelledError):
            await gone
        # Had it kept its place, this third request would fill the 3 slots and release
        # the group at once; as it is, the group of two waits for the hold to end.
        await asyncio.gather(first, request(hold, log, "third"))
        assert [name for name, _ in log] == ["first", "third"]
        assert all(at - start >= 0.45 for _, at in log)
        assert hold.running == 0

    asyncio.run(scenario())


def test_the_last_held_request_leaving_ends_its_group() -> None:
    async def scenario() -> None:
        hold, log = Hold(0.3, slots=4), []
        gone = asyncio.ensure_future(request(hold, log, "gone"))
        await asyncio.sleep(0.05)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        # The next one opens a hold of its own: released 0.3 s after it came, not when
        # the abandoned group's timer would have fired.
        arrived = asyncio.get_running_loop().time()
        await request(hold, log, "alone")
        assert log == [("alone", pytest.approx(arrived + 0.3, abs=0.05))]
        assert hold.running == 0

    asyncio.run(scenario())


def test_hold_zero_holds_nothing() -> None:
    async def scenario() -> None:
        hold, log = Hold(0, slots=4), []
        start = asyncio.get_running_loop().time()
        await request(hold, log, "alone")
        assert log[0][1] - start < 0.01

    asyncio.run(scenario())


# Through a real llmserver --------------------------------------------------------------

HOLD_S = 1.5


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with llmserver(LLM_HOLD_MS=str(int(HOLD_S * 1000)), LLM_PARALLEL="4") as url:
        yield url


def first_token_at(base_url: str, prompt: str, start: float, out: dict[str, float],
                   max_tokens: int = 1) -> None:
    """Streams a completion; records when its first token came, in seconds from `start`."""
    body = {"model": ALIAS, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
            "stream": True}
    with httpx.stream("POST", f"{base_url}/v1/completions", json=body, timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0].get("text"):
                out.setdefault(prompt, time.monotonic() - start)


def in_thread(*args: object) -> threading.Thread:
    thread = threading.Thread(target=first_token_at, args=args)
    thread.start()
    return thread


def active(base_url: str) -> int:
    return httpx.get(f"{base_url}/health").json()["active"]


@pytest.mark.slow
def test_server_releases_requests_that_arrive_together_in_one_batch(base_url: str) -> None:
    start, first = time.monotonic(), {}
    threads = []
    for prompt in ("The river", "A small house", "Once, at sea,"):
        threads.append(in_thread(base_url, prompt, start, first))
        time.sleep(0.3)  # 3 of 4 slots: the group waits for the hold to end
    for thread in threads:
        thread.join()
    assert len(first) == 3
    # None went before the hold ended, and all three came out of the same batches.
    assert min(first.values()) >= HOLD_S - 0.05
    assert max(first.values()) - min(first.values()) < 0.5


@pytest.mark.slow
def test_server_releases_a_group_that_fills_the_slots_at_once(base_url: str) -> None:
    start, first = time.monotonic(), {}
    threads = [in_thread(base_url, prompt, start, first)
               for prompt in ("Red", "Green", "Blue", "Yellow")]
    for thread in threads:
        thread.join()
    assert len(first) == 4
    assert max(first.values()) < HOLD_S - 0.3


@pytest.mark.slow
def test_server_holds_a_lone_request_no_longer_than_the_hold(base_url: str) -> None:
    start, first = time.monotonic(), {}
    first_token_at(base_url, "The weather today", start, first)
    # Held for the whole hold (nobody joined), then only its own short prompt to evaluate.
    assert HOLD_S - 0.05 <= first["The weather today"] < HOLD_S + 1.0


@pytest.mark.slow
def test_server_does_not_hold_a_request_while_others_run(base_url: str) -> None:
    start, first = time.monotonic(), {}
    long = in_thread(base_url, "A long story begins:", start, first, 200)
    while "A long story begins:" not in first:
        time.sleep(0.02)
        assert long.is_alive()
    arrived = time.monotonic()
    first_token_at(base_url, "Meanwhile,", arrived, first)
    assert first["Meanwhile,"] < HOLD_S - 0.5
    long.join()


@pytest.mark.slow
def test_server_frees_the_place_of_a_held_request_whose_client_went_away(base_url: str
                                                                         ) -> None:
    start, first = time.monotonic(), {}
    threads = [in_thread(base_url, prompt, start, first) for prompt in ("North", "South")]
    # A third client sends its request and hangs up while it is held.
    host, port = base_url.removeprefix("http://").split(":")
    body = json.dumps({"model": ALIAS, "prompt": "West", "max_tokens": 1}).encode()
    with socket.create_connection((host, int(port))) as gone:
        gone.sendall(b"POST /v1/completions HTTP/1.1\r\nhost: x\r\n"
                     b"content-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n%s" % (len(body), body))
        time.sleep(0.3)
        assert active(base_url) == 3
    time.sleep(0.2)
    assert active(base_url) == 2  # the gateway let it go at once, while still holding
    # Had it kept its place, this fourth request would fill the slots and release them all
    # now; as it is, the three wait for the hold to end.
    threads.append(in_thread(base_url, "East", start, first))
    for thread in threads:
        thread.join()
    assert set(first) == {"North", "South", "East"}
    assert min(first.values()) >= HOLD_S - 0.05
