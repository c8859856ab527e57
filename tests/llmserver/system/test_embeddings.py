"""`POST /v1/embeddings` end to end: a real llmserver, the `openai` client, and rag's own
embedding model in this process to compare with."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest
from starlette.testclient import TestClient

from harness.processes import ROOT, llmserver
from llmserver.app import Gateway
from llmserver.settings import Settings
from rag.embedding import Embedder
from rag.settings import RagSettings

KEY = "embed-key-456"
MODEL = "all-MiniLM-L6-v2"
MAX_INPUTS = 8
# Where `make install` exported the embedding model: the server and this test load the same
# export (a fresh one would cost an export per run).
DATA_DIR = ROOT / "data"
TEXTS = ["The cat sat on the mat.", "Photosynthesis turns light into sugar.",
         "A much longer sentence about the history of the printing press in Europe, " * 3]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with llmserver(LLM_N_CTX="1024", LLM_API_KEY=KEY, DATA_DIR=str(DATA_DIR),
                   EMBED_MAX_INPUTS=str(MAX_INPUTS), EMBED_MAX_INPUT_CHARS="2000") as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def local() -> Embedder:
    return Embedder(RagSettings(data_dir=DATA_DIR, embed_url=None))


def vectors(response: openai.types.CreateEmbeddingResponse) -> np.ndarray:
    assert [d.index for d in response.data] == list(range(len(response.data)))
    # Asked for by name, base64 comes as it was sent: little-endian float32 bytes.
    return np.array([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4")
                     if isinstance(d.embedding, str) else d.embedding
                     for d in response.data], dtype=np.float32)


def test_a_string_gives_rag_s_vector_and_counts_its_tokens(client: openai.OpenAI,
                                                            local: Embedder) -> None:
    # The client asks for base64 unless told otherwise, and decodes it.
    response = client.embeddings.create(input=TEXTS[0], model=MODEL)
    assert response.model == MODEL
    assert np.array_equal(vectors(response), local.embed([TEXTS[0]]))
    tokens = len(local.encode([TEXTS[0]])[0])
    assert response.usage.prompt_tokens == response.usage.total_tokens == tokens


def test_a_list_as_float_and_as_base64_gives_rag_s_vectors(client: openai.OpenAI,
                                                           local: Embedder) -> None:
    as_float = client.embeddings.create(input=TEXTS, model=MODEL, encoding_format="float")
    as_base64 = client.embeddings.create(input=TEXTS, model=MODEL, encoding_format="base64")
    expected = local.embed(TEXTS)
    assert isinstance(as_base64.data[0].embedding, str)
    assert np.array_equal(vectors(as_float), expected)
    assert np.array_equal(vectors(as_base64), expected)
    assert as_float.usage.prompt_tokens == sum(map(len, local.encode(TEXTS)))


def test_token_ids_give_rag_s_vectors_for_them(client: openai.OpenAI, local: Embedder) -> None:
    ids = local.encode(TEXTS)
    response = client.embeddings.create(input=ids, model=MODEL)
    assert np.array_equal(vectors(response), local.embed_ids(ids))
    assert response.usage.prompt_tokens == sum(map(len, ids))


def test_models_lists_the_embedding_model_last(client: openai.OpenAI) -> None:
    models = client.models.list().data
    assert models[-1].id == MODEL
    assert models[-1].model_dump()["type"] == "embedding"
    assert "type" not in models[0].model_dump()


def test_the_key_is_required(base_url: str) -> None:
    stranger = openai.OpenAI(base_url=f"{base_url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.embeddings.create(input="hello", model=MODEL)


@pytest.mark.parametrize("request_body, status, message", [
    ({"input": ["one"] * (MAX_INPUTS + 1)}, 400,
     f"input has {MAX_INPUTS + 1} items; at most {MAX_INPUTS} per request"),
    ({"input": "x" * 2001}, 400, "input[0] has 2001 characters; at most 2000 per input"),
    ({"input": []}, 400, "input must be a string, a list of strings, or word-piece ids"),
    ({"input": ["text", 7]}, 400, "input must be a string, a list of strings"),
    ({"input": [[101, 10 ** 6, 102]]}, 400, "input[0] holds a token id outside"),
    ({"input": "text", "encoding_format": "hex"}, 400, "encoding_format must be float or base64"),
    ({"input": "text", "dimensions": 8}, 400, f"{MODEL} gives 384 dimensions"),
    ({"input": "text", "model": "gemma-3-270m-q4_k_m"}, 404,
     f"The model 'gemma-3-270m-q4_k_m' does not exist. Available: {MODEL}."),
], ids=["too-many", "too-long", "empty", "mixed", "bad-id", "format", "dimensions", "model"])
def test_a_bad_request_is_told_what_is_wrong(base_url: str, request_body: dict[str, object],
                                             status: int, message: str) -> None:
    response = httpx.post(f"{base_url}/v1/embeddings", json=request_body, timeout=60,
                          headers={"authorization": f"Bearer {KEY}"})
    assert response.status_code == status
    error = response.json()["error"]
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"


def test_the_openai_client_raises_on_a_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="at most 8 per request"):
        client.embeddings.create(input=["one"] * (MAX_INPUTS + 1), model=MODEL)


def test_embeddings_answer_while_the_llm_loads(monkeypatch: pytest.MonkeyPatch,
                                               local: Embedder) -> None:
    monkeypatch.setenv("DATA_DIR", str(DATA_DIR))
    loading = Gateway(Settings(models_dir=ROOT / "unused", api_key=KEY))  # never loads
    client = TestClient(loading, headers={"authorization": f"Bearer {KEY}"},
                        base_url="http://127.0.0.1:8000")
    assert client.post("/v1/chat/completions", json={}).status_code == 503
    response = client.post("/v1/embeddings", json={"input": TEXTS[1], "model": MODEL})
    assert response.status_code == 200
    assert response.json()["data"][0]["embedding"] == local.embed([TEXTS[1]])[0].tolist()
