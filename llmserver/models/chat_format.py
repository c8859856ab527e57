"""Chat format for GGUFs that carry no chat template of their own, such as the default base model.

A base model only continues text, so the prompt is a transcript it has seen many of:
a one-line preamble, one worked exchange that shows the answer style, then the
conversation, ending with the assistant's speaker tag. Generation stops where the model
starts the next speaker's turn.

The format is one Jinja template, `TEMPLATE`: llama-server renders it (`--chat-template-file`)
and the in-process engine and the token counter render the same text with jinja2, so the
prompt the model sees and the prompt that is counted cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2.sandbox
import llama_cpp
from llama_cpp.llama_chat_format import (
    ChatFormatterResponse,
    Jinja2ChatFormatter,
    LlamaChatCompletionHandlerRegistry,
    register_chat_format,
)

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

def _literal(text: str) -> str:
    """`text` as a Jinja expression: every character of the output comes from an expression,
    so the engines' whitespace options (llama.cpp and Hugging Face render with trim_blocks
    and lstrip_blocks) cannot change it."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return "{{ '" + escaped + "' }}"


# The system messages joined by spaces (or the preamble), a blank line, the example, then
# one line per turn and the assistant's tag. Only constructs that llama.cpp's own Jinja
# engine implements (namespace, trim, if/for, string concatenation) are used.
TEMPLATE = (
    "{%- set ns = namespace(system='', sep='') -%}"
    "{%- for m in messages -%}{%- if m['role'] == 'system' -%}"
    "{%- set ns.system = ns.system + ns.sep + (m['content'] | trim) -%}{%- set ns.sep = ' ' -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if ns.system -%}{{ ns.system }}{%- else -%}" + _literal(DEFAULT_PREAMBLE)
    + "{%- endif -%}" + _literal("\n\n" + EXAMPLE)
    + "{%- for m in messages -%}"
    "{%- if m['role'] == 'user' -%}" + "{{ '\\n" + USER_TAG + " ' + (m['content'] | trim) }}"
    "{%- elif m['role'] == 'assistant' -%}"
    + "{{ '\\n" + ASSISTANT_TAG + " ' + (m['content'] | trim) }}"
    "{%- endif -%}{%- endfor -%}" + _literal("\n" + ASSISTANT_TAG)
)


def text_of(content: Any) -> str:
    """A message's text: OpenAI content parts are joined, non-text parts dropped."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


@cache
def _compiled() -> jinja2.Template:
    return jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True
    ).from_string(TEMPLATE)


@register_chat_format(BASE_MODEL_FORMAT)
def format_transcript(messages: list[dict[str, Any]], **_: Any) -> ChatFormatterResponse:
    plain = [{"role": m.get("role"), "content": text_of(m.get("content"))} for m in messages]
    return ChatFormatterResponse(prompt=_compiled().render(messages=plain), stop=STOP)


def register_template(alias: str, template: str, model: Path) -> str:
    """Register a model's own chat template (from its yaml) with llama-cpp-python, the way it
    registers a GGUF's (that model's BOS and EOS texts, generation ending at its EOS), and
    return the chat format name to load `model` with."""
    vocab = llama_cpp.Llama(model_path=str(model), vocab_only=True, verbose=False)
    try:
        bos, eos = vocab.token_bos(), vocab.token_eos()
        formatter = Jinja2ChatFormatter(
            template=template,
            bos_token=vocab.detokenize([bos], special=True).decode() if bos != -1 else "",
            eos_token=vocab.detokenize([eos], special=True).decode() if eos != -1 else "",
            stop_token_ids=[eos] if eos != -1 else None,
        )
    finally:
        vocab.close()
    name = f"localchat-template-{alias}"
    LlamaChatCompletionHandlerRegistry().register_chat_completion_handler(
        name, formatter.to_chat_handler(), overwrite=True)
    return name
