"""The OpenAI-compatible API (`/v1/models`, `/v1/chat/completions`) with the operator's key
(accounts off, CHATBOT_API_KEY): who gets in, the answer's shapes streamed and not, what the
LLM server is asked, bodies refused, the per-minute limit and the context budget.

In-process app, canned LLM server (harness/fake_llm.py). Users' own keys and collections
between users: test_api_keys.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from harness.fake_llm import MODEL, WAIT_S, FakeLLM, Reply
from harness.inprocess import ORIGIN, ChatApp

KEY = "operator-chosen-secret"
AUTH = {"Authorization": f"Bearer {KEY}"}


def ask(client: FlaskClient, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> Any:
    return client.post("/v1/chat/completions", json=body,
                       headers=AUTH if headers is None else headers)


def question(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


def events(response: Any) -> list[Any]:
    """The `data:` payloads of a server-sent event stream, `[DONE]` as the string."""
    out = []
    for block in response.get_data(as_text=True).split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: "):]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def assert_error(response: Any, status: int, code: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["code"] == code, error
    return error


@pytest.fixture
def api(make_chat: Callable[..., ChatApp]) -> ChatApp:
    return make_chat(api_key=KEY)


def test_without_chatbot_api_key_the_api_is_off_and_says_how_to_turn_it_on(
        chat: ChatApp) -> None:
    client = chat.app.test_client()
    for response in (client.get("/v1/models", headers=AUTH), ask(client, question())):
        error = assert_error(response, 401, "api_off")
        assert "CHATBOT_API_KEY" in error["message"]


def test_only_the_key_opens_it_never_the_session_cookie(api: ChatApp,
                                                       fake_llm: FakeLLM) -> None:
    browser = api.browser()  # has the page's cookie
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY},
                    {"Authorization": f"Basic {KEY}"}, {"Origin": ORIGIN}):
        assert_error(ask(browser, question(), headers), 401, "invalid_api_key")
        assert_error(browser.get("/v1/models", headers=headers), 401, "invalid_api_key")
    assert browser.get("/v1/models", headers=AUTH).status_code == 200
    assert fake_llm.calls == []
    # With the key, no Origin is needed (not a browser form); any Origin is ignored too.
    response = ask(api.app.test_client(), question(), {**AUTH, "Origin": "https://evil.test"})
    assert response.status_code == 200, response.get_json()


def test_models_lists_the_plain_model(api: ChatApp) -> None:
    listing = api.app.test_client().get("/v1/models", headers=AUTH).get_json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [MODEL]
    assert all(m["object"] == "model" for m in listing["data"])


def test_a_whole_answer_has_openais_shape(api: ChatApp, fake_llm: FakeLLM) -> None:
    fake_llm.reply("Hello there", Reply(["Hi", ",", " friend"]))
    body = ask(api.app.test_client(), question()).get_json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == MODEL and isinstance(body["created"], int)
    assert body["choices"] == [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "Hi, friend"}}]
    assert body["usage"]["completion_tokens"] == 3
    assert body["usage"]["total_tokens"] == (body["usage"]["prompt_tokens"] + 3)
    assert body["sources"] == []
    # Nothing of it is kept: the API is not a conversation in anyone's sidebar.
    assert api.app.extensions["chatbot"].store.read("SELECT COUNT(*) FROM messages")[0][0] == 0


def test_a_streamed_answer_is_openais_event_stream(api: ChatApp, fake_llm: FakeLLM) -> None:
    fake_llm.reply("Hello there", Reply(["Hi", ",", " friend"]))
    response = ask(api.app.test_client(), question(stream=True))
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    stream = events(response)
    assert stream[-1] == "[DONE]"
    chunks = stream[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Hi, friend"
    last = chunks[-1]
    assert last["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert last["usage"]["completion_tokens"] == 3 and last["sources"] == []


def test_the_conversation_goes_upstream_as_sent(api: ChatApp, fake_llm: FakeLLM) -> None:
    body = {"model": MODEL, "temperature": 0.2, "top_p": 0.5, "max_tokens": 40, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": [{"type": "text", "text": "Second"}]},
        {"role": "user", "content": "question"}]}
    assert ask(api.app.test_client(), body).status_code == 200
    sent = fake_llm.call("Second\n\nquestion").body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second\n\nquestion"}]
    assert sent["temperature"] == 0.2 and sent["top_p"] == 0.5 and sent["max_tokens"] == 40
    assert sent["model"] == MODEL


@pytest.mark.parametrize("body, param", [
    ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
    ({"model": MODEL}, "messages"),
    ({"model": MODEL, "messages": []}, "messages"),
    ({"model": MODEL, "messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
    ({"model": MODEL, "messages": [{"role": "tool", "content": "hi"}]}, "messages[0]"),
    ({"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:,"}}]}]}, "messages[0].content"),
    (question(temperature="hot"), "temperature"),
    (question(temperature=5), "temperature"),
    (question(max_tokens=0), "max_tokens"),
    (question(stream="yes"), "stream"),
    (question(n=2), "n"),
    (question(tools=[{"type": "function", "function": {"name": "f"}}]), "tools"),
    (question("x" * 16001), "messages"),
])
def test_bad_bodies_are_refused_saying_what_is_wrong(api: ChatApp, fake_llm: FakeLLM,
                                                     body: dict[str, Any], param: str) -> None:
    response = ask(api.app.test_client(), body)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert fake_llm.calls == []


def test_bodies_that_are_not_json_or_too_large(api: ChatApp) -> None:
    client = api.app.test_client()
    response = client.post("/v1/chat/completions", data=b"{not json", headers=AUTH)
    assert_error(response, 400, "invalid_json")
    assert_error(client.post("/v1/chat/completions", data=b"[1]", headers=AUTH), 400,
                 "invalid_json")
    big = json.dumps(question("y " * 600_000)).encode()
    assert_error(client.post("/v1/chat/completions", data=big, headers=AUTH), 413,
                 "request_too_large")


def test_an_unknown_model_or_collection_is_404(api: ChatApp) -> None:
    client = api.app.test_client()
    for model in ("no-such-model", "rag:no-such-collection", "rag:"):
        error = assert_error(ask(client, {**question(), "model": model}), 404,
                             "model_not_found")
        assert error["param"] == "model"


def test_the_pages_message_limit_applies(make_chat: Callable[..., ChatApp],
                                         fake_llm: FakeLLM) -> None:
    app = make_chat(api_key=KEY, user_messages_per_minute=2)
    client = app.app.test_client()
    assert ask(client, question("one")).status_code == 200
    assert ask(client, question("two", stream=True)).status_code == 200
    response = ask(client, question("three"))
    error = assert_error(response, 429, "rate_limit_exceeded")
    assert error["type"] == "rate_limit_error" and "2 messages" in error["message"]
    assert response.headers["Retry-After"]
    assert fake_llm.questions() == ["one", "two"]


def test_a_question_too_long_for_the_context_is_refused(make_chat: Callable[..., ChatApp],
                                                         fake_llm: FakeLLM) -> None:
    fake_llm.n_ctx = 600  # the fake counts a word as a token
    app = make_chat(api_key=KEY)
    for stream in (False, True):
        response = ask(app.app.test_client(), question("word " * 3000, stream=stream))
        error = assert_error(response, 400, "context_length_exceeded")
        assert "too long for the model's context" in error["message"]
    assert fake_llm.calls == []


def test_the_oldest_turns_are_left_out_when_they_do_not_fit(
        make_chat: Callable[..., ChatApp], fake_llm: FakeLLM) -> None:
    fake_llm.n_ctx = 1000
    app = make_chat(api_key=KEY, max_tokens=100)
    turns = []
    for n in range(12):
        turns += [{"role": "user", "content": f"question {n} " + "filler " * 60},
                  {"role": "assistant", "content": f"answer {n} " + "filler " * 60}]
    body = {"model": MODEL, "messages": [*turns, {"role": "user", "content": "Last one"}]}
    assert ask(app.app.test_client(), body).status_code == 200
    sent = fake_llm.call("Last one").body["messages"]
    assert sent[-1] == {"role": "user", "content": "Last one"}
    assert sent[0]["role"] == "user" and not sent[0]["content"].startswith("question 0 ")
    assert 1 < len(sent) < len(turns) + 1
    assert sent[-2]["content"].startswith("answer 11 ")


def test_an_llm_server_that_fails_is_an_error_not_an_answer(api: ChatApp,
                                                            fake_llm: FakeLLM) -> None:
    fake_llm.reply("Hello there", Reply([], status=500))
    for stream in (False, True):
        error = assert_error(ask(api.app.test_client(), question(stream=stream)), 502,
                             "llm_unavailable")
        assert error["type"] == "api_error"
    # Mid-answer, the stream carries OpenAI's error event, then ends.
    fake_llm.reply("Cut short", Reply(["Partly"], ending="error"))
    stream = events(ask(api.app.test_client(), question("Cut short", stream=True)))
    assert stream[-1] == "[DONE]" and "error" in stream[-2]
    assert stream[-2]["error"]["code"] == "llm_unavailable"


def test_a_client_that_hangs_up_stops_the_answer_upstream(api: ChatApp,
                                                          fake_llm: FakeLLM) -> None:
    reply = fake_llm.reply("Hello there", Reply(["a", "b", "c", "d"], pauses=(1, 2)))
    response = api.app.test_client().post("/v1/chat/completions", headers=AUTH,
                                          json=question(stream=True), buffered=False)
    pieces = iter(response.response)
    assert b'"role": "assistant"' in next(pieces)
    assert b'"content": "a"' in next(pieces)
    response.close()
    reply.proceed()  # the next token is where the answer sees it was stopped
    assert fake_llm.call("Hello there").hung_up.wait(WAIT_S)
    assert fake_llm.call("Hello there").sent < 4


def test_a_guessable_key_leaves_the_api_off_without_logging_it(
        make_chat: Callable[..., ChatApp], caplog: pytest.LogCaptureFixture) -> None:
    app = make_chat(api_key="short-key")
    response = ask(app.app.test_client(), question(), {"Authorization": "Bearer short-key"})
    assert_error(response, 401, "api_off")
    assert "shorter than 16 characters" in caplog.text and "short-key" not in caplog.text
