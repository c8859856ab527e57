"""Chat format for GGUFs that carry no chat template of their own, such as the default base model.

A base model only continues text, so the prompt is a transcript it has seen many of:
a one-line preamble, one worked exchange that shows the answer style, then the
conversation, ending with the assistant's speaker tag. Generation stops where the model
starts the next speaker's turn.
"""

from __future__ import annotations

from typing import Any

from llama_cpp.llama_chat_format import ChatFormatterResponse, register_chat_format

BASE_MODEL_FORMAT = "localchat-transcript"

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


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict)).strip()
    return ""


@register_chat_format(BASE_MODEL_FORMAT)
def format_transcript(messages: list[dict[str, Any]], **_: Any) -> ChatFormatterResponse:
    system = " ".join(_text(m.get("content")) for m in messages if m["role"] == "system")
    lines = [system or DEFAULT_PREAMBLE, "", EXAMPLE]
    for message in messages:
        role, text = message["role"], _text(message.get("content"))
        if role == "user":
            lines.append(f"{USER_TAG} {text}")
        elif role == "assistant":
            lines.append(f"{ASSISTANT_TAG} {text}")
    lines.append(ASSISTANT_TAG)
    return ChatFormatterResponse(prompt="\n".join(lines), stop=STOP)
