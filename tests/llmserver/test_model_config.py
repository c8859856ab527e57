"""Per-model configuration (`<alias>.yaml` beside the GGUF): what a file may say, the one-line
error for one that cannot be used, and, with the real model behind a real llmserver, that
its template, stops, context and defaults reach the engine and its description the clients."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from chatbot.accounts.viewer import Viewer
from chatbot.chat import commands
from chatbot.chat.llm import LLMClient
from chatbot.settings import ChatSettings
from chatbot.settings import Settings as ChatbotSettings
from harness.processes import DEFAULT_MODELS_DIR, llmserver
from llmserver.models.config import ConfigError, ModelConfig, load
from llmserver.models.discovery import discover

DEFAULT = DEFAULT_MODELS_DIR / "gemma-3-270m-q4_k_m.gguf"
DEFAULT_ALIAS = DEFAULT.stem
CHAT = "/v1/chat/completions"
# Gemma's own turn markup, which the base model's vocabulary has as special tokens.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n"
    "{{ m['content'] }}<end_of_turn>\n{% endfor %}<start_of_turn>model\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_setting_is_read_and_the_template_file_is_beside_the_yaml(tmp_path: Path) -> None:
    write(tmp_path / "turns.jinja", GEMMA_TEMPLATE)
    config, template = load(write(tmp_path / "m.yaml", (
        "description: A small model\n"
        "chat_template_file: turns.jinja\n"
        'stop: ["<end_of_turn>", "\\nUser:"]\n'
        "n_ctx: 8192\n"
        "temperature: 0.2\ntop_p: 0.9\ntop_k: 20\nmin_p: 0.05\nrepeat_penalty: 1.1\n"
        "presence_penalty: 0.5\nfrequency_penalty: 0.5\nmax_tokens: 256\nseed: 7\n"
    )))
    assert template == GEMMA_TEMPLATE
    assert (config.description, config.n_ctx, config.stop) == (
        "A small model", 8192, ["<end_of_turn>", "\nUser:"])
    assert config.defaults() == {
        "temperature": 0.2, "top_p": 0.9, "top_k": 20, "min_p": 0.05, "repeat_penalty": 1.1,
        "presence_penalty": 0.5, "frequency_penalty": 0.5, "max_tokens": 256, "seed": 7}


def test_no_file_and_an_empty_file_configure_nothing(tmp_path: Path) -> None:
    assert load(tmp_path / "absent.yaml") == (ModelConfig(), None)
    assert load(write(tmp_path / "empty.yaml", "")) == (ModelConfig(), None)


@pytest.mark.parametrize(("text", "error"), [
    ("n_ctx: lots\n",
     "n_ctx: Input should be a valid integer, unable to parse string as an integer"),
    ("n_ctx: 10\n", "n_ctx: Input should be greater than or equal to 64"),
    ("temprature: 0.2\n", "temprature: not a setting (settings: description, chat_template, "),
    ("stop: 3\n", "stop: Input should be a valid list"),
    ("top_p: 2\n", "top_p: Input should be less than or equal to 1"),
    ("chat_template: x\nchat_template_file: y.jinja\n",
     "(file): give chat_template or chat_template_file, not both"),
    ("chat_template_file: nowhere.jinja\n", "chat_template_file: cannot read "),
    ("chat_template: '{% for m in messages %}'\n",
     "chat_template: not a valid Jinja template (line 1): "),
    ("n_ctx: [1\n", "not valid YAML (line 2): "),
    ("- n_ctx: 512\n", "expected a mapping of settings (name: value), got list"),
])
def test_an_unusable_file_is_one_line_naming_it_and_the_field(
    tmp_path: Path, text: str, error: str
) -> None:
    path = write(tmp_path / "tiny.yaml", text)
    with pytest.raises(ConfigError) as raised:
        load(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {error}")
    assert "\n" not in message


def test_defaults_fill_only_what_the_request_left_out_and_stops_add_to_a_chats() -> None:
    config = ModelConfig(temperature=0.1, max_tokens=9, top_k=5, stop=["###"])
    request = {"messages": [], "temperature": 0.8, "stop": "END"}
    changed, body = config.applied(CHAT, request, b"unused")
    assert changed == {"messages": [], "temperature": 0.8, "max_tokens": 9, "top_k": 5,
                       "stop": ["END", "###"]}
    assert json.loads(body) == changed
    completion, _ = config.applied("/v1/completions", {"prompt": "x",
                                                       "max_completion_tokens": 4}, b"")
    assert completion == {"prompt": "x", "max_completion_tokens": 4, "temperature": 0.1,
                          "top_k": 5}
    body = b'{"messages": []}'
    assert ModelConfig().applied(CHAT, {"messages": []}, body)[1] is body


@pytest.fixture()
def models(tmp_path: Path) -> Path:
    """A models folder with the packaged default and two more aliases of it."""
    (tmp_path / DEFAULT.name).symlink_to(DEFAULT)
    for alias in ("good", "bad"):
        (tmp_path / f"{alias}.gguf").symlink_to(DEFAULT)
    write(tmp_path / "good.yaml", "description: Fine\nn_ctx: 512\n")
    write(tmp_path / "bad.yaml", "n_ctx: lots\n")
    return tmp_path


def test_a_model_with_an_unusable_file_is_left_out_and_only_it(
    models: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(models / "misspelt.yaml", "description: nothing\n")
    with caplog.at_level(logging.WARNING, logger="llmserver"):
        entries = discover(models, None)
    assert [(e.alias, e.config.n_ctx) for e in entries] == [("good", 512), (DEFAULT_ALIAS, None)]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", f"{models}/bad.yaml: n_ctx: Input should be a valid integer, unable to "
                  "parse string as an integer; model bad is not offered"),
        ("WARNING", f"{models}/misspelt.yaml: no misspelt.gguf beside it, so it configures "
                    "nothing"),
    ]


def test_naming_a_model_whose_file_is_unusable_stops_with_that_error(models: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        discover(models, "bad")
    assert str(stopped.value) == (
        f"{models}/bad.yaml: n_ctx: Input should be a valid integer, unable to parse string "
        "as an integer (the configuration of LLM_MODEL=bad)")


def test_llmserver_refuses_to_start_with_it(models: Path) -> None:
    env = {**os.environ, "MODELS_DIR": str(models), "LLM_MODEL": "bad",
           "LLMSERVER_PORT": "0", "LOG_FORMAT": "text"}
    stopped = subprocess.run([sys.executable, "-m", "llmserver"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert stopped.returncode == 1
    assert stopped.stderr.strip().splitlines()[-1] == (
        f"llmserver: stopped: {models}/bad.yaml: n_ctx: Input should be a valid integer, "
        "unable to parse string as an integer (the configuration of LLM_MODEL=bad)")


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model under three aliases: `templated` with Gemma's turns from a template
    file, a context of 512 and short answers by default; `stopper` stopping at "ari"; and
    the default itself, unconfigured."""
    folder = tmp_path_factory.mktemp("configured")
    (folder / DEFAULT.name).symlink_to(DEFAULT)
    (folder / "templated.gguf").symlink_to(DEFAULT)
    (folder / "stopper.gguf").symlink_to(DEFAULT)
    write(folder / "gemma.jinja", GEMMA_TEMPLATE)
    write(folder / "templated.yaml", (
        "description: Gemma's turns\nchat_template_file: gemma.jinja\nn_ctx: 512\n"
        "max_tokens: 3\ntemperature: 0\n"))
    write(folder / "stopper.yaml", "description: Stops early\nstop: [ari]\n")
    return folder


def prompted_with_its_template(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
    reply = client.chat.completions.create(
        model="templated", messages=[{"role": "user", "content": "Hi there"}])
    rendered = "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n"
    expected = httpx.post(f"{url}/tokenize/count",
                          json={"input": rendered, "model": "templated"}).json()["count"]
    # The transcript format would add a preamble and an example: dozens of tokens more.
    assert abs(reply.usage.prompt_tokens - expected) <= 1  # give or take the BOS token
    assert reply.usage.completion_tokens <= 3  # the yaml's max_tokens, as none was sent
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="templated", messages=[{"role": "user", "content": "word " * 600}])
    assert "context" in err.value.body["message"].lower()


@pytest.fixture(scope="module")
def served(configured: Path) -> Iterator[str]:
    with llmserver(MODELS_DIR=str(configured), LLM_MODEL="templated", LLM_N_CTX="1024",
                   LLM_PARALLEL="1") as url:
        yield url


@pytest.mark.slow
def test_models_and_health_show_each_models_context_and_description(served: str) -> None:
    listed = {m["id"]: m for m in httpx.get(f"{served}/v1/models").json()["data"]}
    assert (listed["templated"]["description"], listed["templated"]["meta"]["n_ctx"]) == (
        "Gemma's turns", 512)
    assert (listed["stopper"]["description"], listed["stopper"]["meta"]["n_ctx"]) == (
        "Stops early", 1024)
    assert listed[DEFAULT_ALIAS]["description"] == ""
    assert httpx.get(f"{served}/health").json()["n_ctx"] == 512


def test_llama_server_gets_the_template_the_context_and_the_defaults(served: str) -> None:
    prompted_with_its_template(served)


@pytest.mark.slow
def test_a_chat_stops_at_the_models_stop_sequence(served: str) -> None:
    client = openai.OpenAI(base_url=f"{served}/v1", api_key="unused", max_retries=0,
                           timeout=120)

    def answer(model: str) -> tuple[str, str]:
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=48, temperature=0)
        return reply.choices[0].message.content or "", reply.choices[0].finish_reason

    assert "Paris" in answer(DEFAULT_ALIAS)[0]
    text, finish = answer("stopper")
    assert "Paris" not in text and finish == "stop"


def test_the_chatbots_model_listing_shows_the_descriptions(served: str) -> None:
    settings = ChatbotSettings(llm_base_url=f"{served}/v1")
    llm = LLMClient(settings)
    try:
        context = commands.Context(settings, llm, ChatSettings.defaults(settings),
                                   Viewer("browser-1"))
        listing = commands.run("/model", context).text
    finally:
        llm.close()
    assert "- `templated` (current): Gemma's turns" in listing
    assert "- `stopper`: Stops early" in listing


@pytest.mark.slow
def test_the_in_process_engine_gets_them_too(configured: Path) -> None:
    with llmserver(MODELS_DIR=str(configured), LLM_MODEL="templated",
                   LLM_ENGINE="llama-cpp-python") as url:
        assert httpx.get(f"{url}/health").json()["n_ctx"] == 512
        prompted_with_its_template(url)
