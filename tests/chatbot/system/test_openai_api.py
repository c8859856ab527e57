"""The OpenAI-compatible API end to end: the `openai` Python client against a real chatbot
under gunicorn (the production server) with CHATBOT_API_KEY, a real llmserver with the
default model, and a collection ingested through the page's upload endpoint.

The model is a tiny base model: these tests assert on shapes and on what retrieval did
(`sources`), never on the wording of an answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from harness.processes import chatbot_instances, llmserver
from harness.socketclient import ChatClient
from harness.uploads import finished, rag_data_dir, upload

KEY = "a-long-random-operator-key-for-the-api-test"
CORPUS = [
    ("lighthouse.md", b"# Zorblax lighthouse\n\nThe Zorblax lighthouse on Quimby island is "
     b"painted bright violet and stands 43 metres tall. Its lamp was first lit in 1891."),
    ("bakery.md", b"# Marmot bakery\n\nThe Marmot bakery sells rye bread and cinnamon buns. "
     b"It opens at six in the morning, every day except Sunday."),
]
QUESTION = "How tall is the Zorblax lighthouse on Quimby island?"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    """An OpenAI client of a chatbot whose collection `corpus` holds CORPUS."""
    with llmserver() as llm_url, \
            chatbot_instances(llm_url, rag_data_dir(tmp_path_factory, "openai-api"), 1,
                              CHATBOT_API_KEY=KEY, CHAT_MAX_TOKENS="24") as (url,):
        with ChatClient(url) as client:
            summary = finished(client, upload(client, CORPUS, "corpus"))
        assert summary["state"] == "done" and not summary["summary"]["failed"], summary
        with openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0,
                           timeout=120) as api:
            yield api


def test_models_lists_the_collection_and_the_model(api: openai.OpenAI) -> None:
    ids = [m.id for m in api.models.list()]
    assert ids[0] == "rag:corpus" and len(ids) == 2, ids  # and the default model


def test_a_grounded_answer_carries_its_sources(api: openai.OpenAI) -> None:
    answer = api.chat.completions.create(
        model="rag:corpus", messages=[{"role": "user", "content": QUESTION}])
    assert answer.object == "chat.completion" and answer.model == "rag:corpus"
    assert answer.choices[0].message.content
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    sources: list[dict[str, Any]] = answer.sources  # type: ignore[attr-defined]
    assert sources[0]["title"] == "Zorblax lighthouse" and sources[0]["n"] == 1
    assert sources[0]["url"].startswith("/files/")
    assert "43 metres" in sources[0]["passage"]


def test_a_streamed_grounded_answer_ends_with_its_sources(api: openai.OpenAI) -> None:
    stream = api.chat.completions.create(
        model="rag:corpus", stream=True,
        messages=[{"role": "user", "content": "When does the Marmot bakery open?"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    last = chunks[-1]
    assert last.choices[0].finish_reason in ("stop", "length")
    assert last.usage is not None and last.usage.completion_tokens > 0
    sources: list[dict[str, Any]] = last.sources  # type: ignore[attr-defined]
    assert sources[0]["title"] == "Marmot bakery"


def test_a_plain_model_answers_without_documents(api: openai.OpenAI) -> None:
    model = [m.id for m in api.models.list()][1]
    answer = api.chat.completions.create(
        model=model, max_tokens=8, messages=[{"role": "user", "content": "Say hello."}])
    assert answer.choices[0].message.content is not None
    assert answer.sources == []  # type: ignore[attr-defined]


def test_refusals_are_the_clients_own_errors(api: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        api.chat.completions.create(model="rag:nothing-here",
                                    messages=[{"role": "user", "content": QUESTION}])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        api.chat.completions.create(model="rag:corpus",
                                    messages=[{"role": "assistant", "content": "Hi"}])
    assert bad.value.param == "messages"
    wrong = openai.OpenAI(base_url=str(api.base_url), api_key="guess", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.models.list()
    assert refused.value.code == "invalid_api_key"
    wrong.close()
