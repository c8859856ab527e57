"""Every Socket.IO event the chatbot handles, sent malformed, oversized and wrongly typed
payloads: the connection lives on and keeps answering, nothing reaches the LLM server, and
the tab still gets answers afterwards. (What each event answers to a bad payload, a readable
`error`, is checked event by event in test_events_fast.py.)"""

from __future__ import annotations

import logging

import pytest

from chatbot.sockets import EVENTS
from harness.fake_llm import FakeLLM
from harness.inprocess import ChatApp

NESTED: dict = {}
for _ in range(200):
    NESTED = {"x": NESTED}
BAD_PAYLOADS = [
    pytest.param("a string", id="string"), pytest.param([1, "two"], id="list"),
    pytest.param(12, id="int"), pytest.param(True, id="bool"),
    pytest.param({"text": None, "id": None, "name": None, "collection": None}, id="nulls"),
    pytest.param({"text": 5, "id": [], "name": {}, "collection": 7.5, "shared": "yes",
                  "on": "yes", "q": ["x"], "shown": "all"}, id="wrong-types"),
    pytest.param({"id": "x" * 1_000_000, "name": "n" * 1_000_000,
                  "collection": "c" * 1_000_000, "q": "q" * 1_000_000}, id="oversized"),
    pytest.param(NESTED, id="deeply-nested"),
    pytest.param({"id": "../../etc/passwd", "name": "../x", "collection": "..",
                  "text": "/rag on ../../x"}, id="paths"),
]


@pytest.mark.parametrize("payload", BAD_PAYLOADS)
def test_every_event_survives_bad_payloads(chat: ChatApp, fake_llm: FakeLLM, payload: object,
                                           caplog: pytest.LogCaptureFixture) -> None:
    tab = chat.tab()
    for event in EVENTS:
        tab.emit(event, payload)
        # The connection still answers (events are handled whatever the one before did).
        tab.wait("collections", since=tab.emit("collections", {}), timeout=30)
        assert tab.connected, event
    assert fake_llm.calls == []  # nothing malformed ever reached the LLM server
    # Refused with a reason, not by a handler failing (that would be logged as an error).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "/reset" in tab.wait("notice", since=tab.send("/help"))[1]["text"]
    assert tab.ask("Still there?")[1] == "done"
