"""What `llmserver pull` can download: the curated models, and a name from the command line
or the chat page (`NAME` or `OWNER/REPO/FILE.gguf`) resolved into a repository, a file and
the alias to save it as, every part checked before it becomes a path.

Nothing here talks to a hub, so the server imports it at start (for `/v1/models/pull`)
without loading huggingface_hub, which reads HF_HUB_OFFLINE once, when it is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmserver.names import UnsafeName, check_alias, check_repo_path


@dataclass(frozen=True)
class Curated:
    repo: str
    file: str
    size: str
    about: str


# Small instruction-tuned models, Q4_K_M (the usual balance of size and quality on a CPU),
# each with its chat template in the GGUF, so they need no yaml to answer well.
CURATED: dict[str, Curated] = {
    "qwen2.5-0.5b-instruct": Curated(
        "bartowski/Qwen2.5-0.5B-Instruct-GGUF", "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "0.4 GB",
        "Qwen2.5 0.5B Instruct: the quickest; short factual answers"),
    "llama-3.2-1b-instruct": Curated(
        "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf", "0.8 GB",
        "Llama 3.2 1B Instruct: quick, good at following instructions"),
    "qwen2.5-1.5b-instruct": Curated(
        "bartowski/Qwen2.5-1.5B-Instruct-GGUF", "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf", "1.0 GB",
        "Qwen2.5 1.5B Instruct: good answers from documents (RAG), many languages"),
    "smollm2-1.7b-instruct": Curated(
        "bartowski/SmolLM2-1.7B-Instruct-GGUF", "SmolLM2-1.7B-Instruct-Q4_K_M.gguf", "1.1 GB",
        "SmolLM2 1.7B Instruct: English, fast for its size"),
    "llama-3.2-3b-instruct": Curated(
        "bartowski/Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-Q4_K_M.gguf", "2.0 GB",
        "Llama 3.2 3B Instruct: the best answers here; wants 4 cores and 4 GB of memory"),
}


class PullError(Exception):
    """Why a pull failed, in one line for the person who ran it."""


@dataclass(frozen=True)
class Source:
    repo: str
    file: str
    alias: str
    description: str


def resolve(spec: str, alias: str | None) -> Source:
    """What `spec` (a curated name or `OWNER/REPO/FILE.gguf`) names, saved as `alias`.

    Anyone who can reach the page may ask for a pull (`/v1/models/pull`), so every part of
    `spec` and the alias are checked as names (llmserver.names) before any becomes a path:
    `...gguf` would otherwise be saved as `..`, and `a/../../b.gguf` climb out of staging."""
    try:
        if alias is not None:
            check_alias(alias)
        curated = CURATED.get(spec.lower())
        if curated is not None:
            return Source(curated.repo, curated.file, alias or spec.lower(), curated.about)
        if not spec.endswith(".gguf") or spec.count("/") < 2:
            shown = spec if len(spec) <= 80 else spec[:80] + "…"
            raise PullError(f"{shown!r} is neither OWNER/REPO/FILE.gguf nor a name from "
                            f"`llmserver pull --list` ({', '.join(CURATED)})")
        parts = check_repo_path(spec, "the model")
        repo, file = "/".join(parts[:2]), "/".join(parts[2:])
        return Source(repo, file, alias or check_alias(Path(file).stem),
                      f"{repo}/{file} from Hugging Face")
    except UnsafeName as exc:
        raise PullError(str(exc)) from None


def listing() -> str:
    width = max(len(name) for name in CURATED)
    lines = ["Small instruction-tuned models that run well on a CPU:", ""]
    for name, model in CURATED.items():
        lines.append(f"  {name:<{width}}  {model.size:>6}  {model.about}")
        lines.append(f"  {'':<{width}}  {'':>6}  {model.repo}/{model.file}")
    lines += ["", "Pull one with `llmserver pull NAME`, or any GGUF on Hugging Face with "
              "`llmserver pull OWNER/REPO/FILE.gguf`."]
    return "\n".join(lines)
