"""Context budgeting with the default model's real tokenizer and llmserver's real chat format."""

from __future__ import annotations

import random

import httpx
import llama_cpp
import pytest

from chatbot.chat import budget
from chatbot.chat.llm import LLMClient, estimate_tokens
from chatbot.settings import Settings
from harness.processes import DEFAULT_MODELS_DIR
from llmserver.models.chat_format import format_transcript

MODEL = DEFAULT_MODELS_DIR / "gemma-3-270m-q4_k_m.gguf"
# Mixed scripts, punctuation and code: the text where byte-based guesses go wrong.
WORDS = ["the", "river", "light", "engine", "quietly", "seventeen", "über", "naïve", "東京",
         "déjà-vu", "function()", "{x:", "1}", "moreover,", "3.14159", "—", "nonetheless;",
         "#include", "<stdio.h>", "ok"]


@pytest.fixture(scope="module")
def vocab() -> llama_cpp.Llama:
    return llama_cpp.Llama(str(MODEL), vocab_only=True, verbose=False)


def count(vocab: llama_cpp.Llama, text: str) -> int:
    return len(vocab.tokenize(text.encode(), add_bos=False, special=True))


def conversation(n_turns: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n_turns):
        for role in ("user", "assistant"):
            out.append({"role": role, "content": " ".join(rng.choice(WORDS)
                                                          for _ in range(rng.randint(3, 60)))
                        + f" ({i})"})
    return out


@pytest.mark.parametrize("seed", range(5))
def test_the_planned_prompt_fits_with_room_for_the_answer(vocab: llama_cpp.Llama,
                                                          seed: int) -> None:
    n_ctx, max_answer = 1024, 128
    history = conversation(30, seed)
    system = "You answer briefly."
    new = "And what about the river? " * 5
    turns = [budget.Turn(i + 1, m["role"], count(vocab, m["content"]))
             for i, m in enumerate(history)]
    plan = budget.plan(n_ctx=n_ctx, max_answer=max_answer, fixed_tokens=count(vocab, system),
                       new_tokens=count(vocab, new), history=turns)

    assert plan.dropped and plan.first_id is not None
    kept = history[plan.first_id - 1:]
    assert kept[0]["role"] == "user", "the window starts with a question"
    messages = [{"role": "system", "content": system}, *kept, {"role": "user", "content": new}]
    prompt = format_transcript(messages).prompt
    real = len(vocab.tokenize(prompt.encode(), add_bos=True, special=True))
    assert real + plan.answer_tokens <= n_ctx
    assert plan.prompt_tokens >= real, "the estimate never under-counts"
    assert plan.answer_tokens == max_answer


def test_history_that_fits_is_sent_whole() -> None:
    turns = [budget.Turn(i, "user" if i % 2 else "assistant", 20) for i in range(1, 9)]
    plan = budget.plan(n_ctx=4096, max_answer=256, fixed_tokens=10, new_tokens=10, history=turns)
    assert plan.first_id == 1 and not plan.dropped


def test_dropping_leaves_slack_so_the_next_turns_keep_the_prefix() -> None:
    turns = [budget.Turn(i, "user" if i % 2 else "assistant", 50) for i in range(1, 41)]
    first = budget.plan(n_ctx=1024, max_answer=128, fixed_tokens=0, new_tokens=20,
                        history=turns)
    assert first.dropped
    # Two more turns later the window has not moved: the prompt prefix is unchanged.
    more = [*turns, budget.Turn(41, "user", 20), budget.Turn(42, "assistant", 50)]
    second = budget.plan(n_ctx=1024, max_answer=128, fixed_tokens=0, new_tokens=20,
                         history=more, start_id=first.first_id or 0)
    assert not second.dropped and second.first_id == first.first_id


def test_a_message_too_long_for_the_context_is_refused() -> None:
    with pytest.raises(budget.MessageTooLong) as refused:
        budget.plan(n_ctx=1024, max_answer=256, fixed_tokens=50, new_tokens=2000, history=[])
    assert "too long" in str(refused.value)


def test_the_answer_shrinks_before_a_long_message_is_refused() -> None:
    plan = budget.plan(n_ctx=1024, max_answer=512, fixed_tokens=0, new_tokens=700, history=[])
    assert budget.MIN_ANSWER_TOKENS <= plan.answer_tokens < 512
    assert plan.prompt_tokens + plan.answer_tokens <= 1024


def test_the_estimate_over_counts_real_tokens(vocab: llama_cpp.Llama) -> None:
    for seed in range(20):
        text = " ".join(m["content"] for m in conversation(3, seed))
        assert estimate_tokens(text) >= count(vocab, text)


def test_counting_falls_back_to_the_estimate_when_the_server_cannot_tokenize() -> None:
    calls = []

    def no_tokenizer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(404, json={"detail": "Not Found"})

    llm = LLMClient(Settings(llm_base_url="http://engine.invalid/v1"))
    llm.http = httpx.Client(base_url="http://engine.invalid",
                            transport=httpx.MockTransport(no_tokenizer))
    text = "a sentence of ordinary English words"
    assert llm.count_tokens(text) == estimate_tokens(text)
    assert llm.count_tokens(text) == estimate_tokens(text)
    assert calls == ["/tokenize/count"], "a server without the endpoint is not asked again"
    assert llm.n_ctx() == 4096, "no /health: the LLM_N_CTX setting"
