"""Per-model configuration: `<alias>.yaml` beside `<alias>.gguf`.

Every field is optional; a GGUF without a yaml is served with its own metadata alone:

    description: Qwen2.5 0.5B Instruct, quick on a laptop CPU
    n_ctx: 8192                 # this model's context (LLM_N_CTX is the default)
    chat_template_file: qwen.jinja   # or chat_template: "{% for m in messages %}..."
    stop: ["<|im_end|>"]        # added to every chat request's own stop sequences
    temperature: 0.7            # sampling defaults: fill in what a request leaves out
    max_tokens: 512

A file that cannot be used is reported as one line naming the file and the field
(`models/tiny.yaml: n_ctx: Input should be a valid integer`), and only that model is
affected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmserver.names import UnsafeName, inside

# The request fields a yaml may give a default for: the OpenAI ones, and the llama.cpp
# sampling extensions that both engines accept in a chat or completion request.
SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty",
                   "presence_penalty", "frequency_penalty", "max_tokens", "seed")
CHAT_PATH = "/v1/chat/completions"


class ConfigError(Exception):
    """A per-model yaml that cannot be used; the message names the file and the field."""


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    chat_template: str | None = None
    chat_template_file: Path | None = Field(
        default=None, description="Jinja file, relative to the yaml.")
    stop: list[str] = Field(default_factory=list)
    n_ctx: int | None = Field(default=None, ge=64)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    min_p: float | None = Field(default=None, ge=0, le=1)
    repeat_penalty: float | None = Field(default=None, gt=0)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None

    @model_validator(mode="after")
    def _one_template(self) -> ModelConfig:
        if self.chat_template is not None and self.chat_template_file is not None:
            raise ValueError("give chat_template or chat_template_file, not both")
        return self

    def defaults(self) -> dict[str, Any]:
        """The sampling defaults this file sets."""
        return {name: getattr(self, name) for name in SAMPLING_FIELDS
                if getattr(self, name) is not None}

    def applied(self, path: str, request: dict[str, Any], body: bytes
                ) -> tuple[dict[str, Any], bytes]:
        """The request (parsed, and its body) with this model's defaults for the fields the
        client left out and, for a chat, its stop sequences after the client's own; given
        back unchanged when there is nothing to add, so an unconfigured model costs no
        re-encoding."""
        added = {name: value for name, value in self.defaults().items()
                 if request.get(name) is None}
        if "max_tokens" in added and request.get("max_completion_tokens") is not None:
            del added["max_tokens"]
        if self.stop and path == CHAT_PATH:
            stop = request.get("stop") or []
            added["stop"] = ([stop] if isinstance(stop, str) else list(stop)) + self.stop
        if not added:
            return request, body
        changed = {**request, **added}
        return changed, json.dumps(changed).encode()


def config_path(gguf: Path) -> Path:
    return gguf.with_suffix(".yaml")


def load(path: Path) -> tuple[ModelConfig, str | None]:
    """The configuration in `path` (an empty one when there is no such file) and the chat
    template it names, read and checked; raises ConfigError."""
    if not path.is_file():
        return ModelConfig(), None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{line}: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings (name: value), "
                          f"got {type(raw).__name__}")
    try:
        config = ModelConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + "; ".join(_describe(e) for e in exc.errors())) from None
    template = config.chat_template
    if config.chat_template_file is not None:
        # Beside the yaml or in a folder under it: never `../..` or an absolute path, so
        # a yaml (one a pull wrote, one copied from elsewhere) cannot read any file.
        try:
            template_path = inside(path.parent, config.chat_template_file)
        except UnsafeName as exc:
            raise ConfigError(f"{path}: chat_template_file: {exc}") from None
        try:
            template = template_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: chat_template_file: cannot read {template_path}: "
                              f"{exc.strerror if isinstance(exc, OSError) else exc}") from None
    if template is not None:
        field = "chat_template_file" if config.chat_template_file else "chat_template"
        try:
            jinja2.sandbox.ImmutableSandboxedEnvironment().parse(template)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"{path}: {field}: not a valid Jinja template "
                              f"(line {exc.lineno}): {exc.message}") from None
    return config, template


def _describe(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(file)"
    if error["type"] == "extra_forbidden":
        known = ", ".join(ModelConfig.model_fields)
        return f"{field}: not a setting (settings: {known})"
    message = error["msg"].removeprefix("Value error, ")
    return f"{field}: {message}"
