"""The prompt that continues a stopped or cut answer from its last word, for a model without
a chat template of its own (the default base model).

A chat request cannot say "go on from this text" to such a model: llmserver's transcript
format ends every prompt with a fresh "Assistant:" turn. So the chatbot writes that
transcript itself, as a text completion ending with the partial answer. The texts below
are copies of llmserver's (llmserver/models/chat_format.py), so that the prompt is the one the
answer was first written from, and llama.cpp reuses its cache up to the partial answer.
"""

from __future__ import annotations

USER_TAG = "User:"
ASSISTANT_TAG = "Assistant:"
DEFAULT_PREAMBLE = (
    "A conversation between a user and a helpful assistant. "
    "The assistant answers each question directly, in a few sentences."
)
EXAMPLE = (
    f"{USER_TAG} What is the boiling point of water at sea level?\n"
    f"{ASSISTANT_TAG} Water boils at 100 degrees Celsius (212 degrees Fahrenheit) at sea level.\n"
)
STOP = [f"\n{USER_TAG}", f"\n{ASSISTANT_TAG}", "\nUser ", "<end_of_turn>", "<eos>"]


def transcript_prompt(messages: list[dict[str, str]]) -> str:
    """`messages` (system, then user/assistant turns, the last one the partial answer) as
    llmserver's transcript, ending with that answer's text so the model goes on from it."""
    system = " ".join(m["content"].strip() for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] in ("user", "assistant")]
    lines = [f"\n{USER_TAG if m['role'] == 'user' else ASSISTANT_TAG} {m['content'].strip()}"
             for m in turns[:-1]]
    partial = turns[-1]["content"] if turns else ""
    return ((system or DEFAULT_PREAMBLE) + "\n\n" + EXAMPLE + "".join(lines)
            + f"\n{ASSISTANT_TAG} " + partial.lstrip())
