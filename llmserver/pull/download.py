"""`llmserver pull`: a GGUF from Hugging Face into MODELS_DIR, checked against the hub's sha256.

The download goes to `MODELS_DIR/.pull/<alias>/` (huggingface_hub's own resumable download,
with its progress bar) and is renamed to `MODELS_DIR/<alias>.gguf` only once its sha256 equals
the one the hub publishes for the file (its LFS object id). So a broken or interrupted pull
never leaves a `.gguf` that llmserver would try to load, and running the same command again
resumes where the last one stopped. `HF_ENDPOINT` points it at another hub (or a mirror).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml
from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import logging as hub_logging

from llmserver.models.config import config_path
from llmserver.names import UnsafeName, check_alias, check_repo_path, inside
from llmserver.settings import Settings

SHA256 = re.compile(r"[0-9a-f]{64}")
STAGING = ".pull"
# What huggingface_hub raises for a hub it cannot reach or that refuses (all requests
# errors, its own HTTP errors among them), a short or failed write (OSError) and a file it
# will not download (ValueError).
DOWNLOAD_ERRORS = (requests.RequestException, OSError, ValueError)


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


def pull(source: Source, models_dir: Path, revision: str) -> Path:
    """Download `source` to `models_dir/<alias>.gguf`; raises PullError."""
    try:
        # Checked again here, where they become paths: `source` may not come from resolve.
        target = inside(models_dir, f"{check_alias(source.alias)}.gguf")
        staging = inside(models_dir, STAGING, source.alias)
    except UnsafeName as exc:
        raise PullError(str(exc)) from None
    if target.exists():
        print(f"{target} is already there (pull under another name with --as NAME).")
        return target
    where = f"{source.repo}/{source.file}"
    # Said first: offline, the hub's client retries for about 20 s before giving up.
    print(f"Looking up {where} on {constants.ENDPOINT}…", flush=True)
    try:
        metadata = get_hf_file_metadata(hf_hub_url(source.repo, source.file, revision=revision))
    except DOWNLOAD_ERRORS as exc:
        raise PullError(_describe(exc, source, revision)) from None
    expected = metadata.etag or ""
    if not SHA256.fullmatch(expected):
        raise PullError(f"{constants.ENDPOINT} gives no sha256 for {where}, so the download "
                        "could not be checked; not pulling it")
    # The exact count too: llmserver's pull endpoint reads it to report progress.
    size = (f" ({metadata.size / 1e6:,.0f} MB, {metadata.size} bytes)" if metadata.size
            else "")
    print(f"Pulling {where}{size} into {models_dir}/", flush=True)
    try:
        downloaded = Path(hf_hub_download(
            source.repo, source.file, revision=metadata.commit_hash or revision,
            local_dir=staging))
    except DOWNLOAD_ERRORS as exc:
        raise PullError(f"{_describe(exc, source, revision)}; run the same command again to "
                        "resume") from None
    try:
        inside(staging, downloaded.relative_to(staging))
    except ValueError:  # UnsafeName among them
        raise PullError(f"{where} was saved outside {staging}; not using it") from None
    print("Checking its sha256…", flush=True)
    with downloaded.open("rb") as f:
        actual = hashlib.file_digest(f, "sha256").hexdigest()
    if actual != expected:
        _remove(staging)
        raise PullError(f"{where}: its sha256 is {actual}, the hub's is {expected}: the "
                        "download is corrupt and was deleted; try again")
    os.replace(downloaded, target)
    _remove(staging)
    config = config_path(target)
    if not config.exists():
        config.write_text(yaml.safe_dump({"description": source.description}, sort_keys=False),
                          encoding="utf-8")
    print(f"Saved {target} (sha256 {actual}).")
    return target


def _remove(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    # The parent goes too once no other pull is under way in it.
    with contextlib.suppress(OSError):
        staging.parent.rmdir()


def _describe(exc: BaseException, source: Source, revision: str) -> str:
    hub = constants.ENDPOINT
    if isinstance(exc, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set: unset it to download models"
    if isinstance(exc, GatedRepoError):
        return (f"{source.repo} is gated: accept its terms on {hub}/{source.repo} and log in "
                "(`hf auth login` or HF_TOKEN)")
    if isinstance(exc, RepositoryNotFoundError):
        return (f"no repository {source.repo} on {hub} (or it is private: log in with "
                "`hf auth login` or HF_TOKEN)")
    if isinstance(exc, RevisionNotFoundError):
        return f"{source.repo} has no revision {revision!r}"
    if isinstance(exc, LocalEntryNotFoundError):
        return f"cannot reach {hub}: offline, or its name does not resolve"
    if isinstance(exc, EntryNotFoundError):
        return f"{source.repo} has no file {source.file} (at revision {revision})"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"the connection to {hub} broke off during the download"
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return f"cannot reach {hub}: offline, or its name does not resolve ({_reason(exc)})"
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return f"{hub} answered {exc.response.status_code} for {source.repo}/{source.file}"
    return f"the download failed: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    """The operating system's words inside a requests error (`[Errno 111] Connection
    refused`), not its pages of wrapped exceptions."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if found:
        return found.group(1).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def listing() -> str:
    width = max(len(name) for name in CURATED)
    lines = ["Small instruction-tuned models that run well on a CPU:", ""]
    for name, model in CURATED.items():
        lines.append(f"  {name:<{width}}  {model.size:>6}  {model.about}")
        lines.append(f"  {'':<{width}}  {'':>6}  {model.repo}/{model.file}")
    lines += ["", "Pull one with `llmserver pull NAME`, or any GGUF on Hugging Face with "
              "`llmserver pull OWNER/REPO/FILE.gguf`."]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="llmserver pull",
        description="Download a GGUF from Hugging Face into MODELS_DIR, resuming an "
        "interrupted download and checking its sha256 against the hub's.",
    )
    parser.add_argument("model", nargs="?",
                        help="OWNER/REPO/FILE.gguf, or a name from --list")
    parser.add_argument("--list", action="store_true", help="show the curated models")
    parser.add_argument("--as", dest="alias",
                        help="alias to save it under (default: the curated name, or the "
                        "file name without .gguf)")
    parser.add_argument("--revision", default="main", help="branch, tag or commit (main)")
    parser.add_argument("--models-dir", type=Path, help="where to save it (MODELS_DIR)")
    args = parser.parse_args(argv)
    # Its retry warnings are pages of wrapped exceptions; each failure is said once, here.
    hub_logging.set_verbosity_error()
    if args.list:
        print(listing())
        return
    if not args.model:
        parser.error("name a model (OWNER/REPO/FILE.gguf, or one from --list)")
    models_dir = args.models_dir or Settings().models_dir
    try:
        source = resolve(args.model, args.alias)
        models_dir.mkdir(parents=True, exist_ok=True)
        pull(source, models_dir, args.revision)
    except PullError as exc:
        print(f"llmserver pull: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\nllmserver pull: interrupted; run the same command again to resume",
              file=sys.stderr)
        sys.exit(130)
    print(f"Next: restart llmserver to offer it (LLM_MODEL={source.alias} loads it first); "
          f"in the chat page, /model {source.alias} switches a conversation to it.")
