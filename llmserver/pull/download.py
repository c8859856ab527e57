"""One pull: a GGUF from Hugging Face into MODELS_DIR, checked against the hub's sha256.

The download goes to `MODELS_DIR/.pull/<alias>/` (huggingface_hub's own resumable download,
with its progress bar) and is renamed to `MODELS_DIR/<alias>.gguf` only once its sha256 equals
the one the hub publishes for the file (its LFS object id). So a broken or interrupted pull
never leaves a `.gguf` that llmserver would try to load, and running the same command again
resumes where the last one stopped. `HF_ENDPOINT` points it at another hub (or a mirror).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
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

from llmserver.models.config import config_path
from llmserver.names import UnsafeName, check_alias, inside
from llmserver.pull.sources import PullError, Source

SHA256 = re.compile(r"[0-9a-f]{64}")
STAGING = ".pull"
# What huggingface_hub raises for a hub it cannot reach or that refuses (all requests
# errors, its own HTTP errors among them), a short or failed write (OSError) and a file it
# will not download (ValueError).
DOWNLOAD_ERRORS = (requests.RequestException, OSError, ValueError)


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
