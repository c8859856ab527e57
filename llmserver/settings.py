"""llmserver configuration: one typed object, read from the environment (and `.env`)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def usable_cores(sys_root: Path = Path("/sys")) -> int:
    """The physical cores this process may run on, which is how many threads llama.cpp
    should compute on: its threads work in lockstep, and one more than there are cores
    stalls every step (3 threads on 2 cores: prompts 14-30% slower, docs/engine.md).

    `os.cpu_count()` counts every logical CPU of the machine, including those a container's
    cpuset or `taskset` keeps this process off (its CPU affinity), those beyond its cgroup's
    CPU quota (`docker run --cpus`), and the second hyperthread of each core, which shares
    that core's vector units (llama.cpp's own default counts physical cores for this
    reason).
    """
    try:
        allowed = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    cores = set()
    for cpu in allowed:
        siblings = sys_root / f"devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
        try:
            cores.add(siblings.read_text().strip())
        except OSError:
            cores.add(str(cpu))
    count = len(cores)
    quota = _cpu_quota(sys_root / "fs/cgroup")
    if quota is not None:
        # Rounded down: a thread beyond the quota gets throttled in the middle of a step.
        count = min(count, math.floor(quota))
    return max(1, count)


def _cpu_quota(cgroup: Path) -> float | None:
    """How many CPUs' worth of time this (container's) cgroup may use; None: no limit."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]  # cgroup v2
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota_us = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


class Settings(BaseSettings):
    """Every knob of llmserver, each with its environment variable and default."""

    # case_sensitive: otherwise each field is also read from its bare name in any case, and
    # a PORT or HOST set by the platform would move the server.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True,
                                      case_sensitive=True)

    model: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LLM_MODEL", "model"),
        description="GGUF path, or alias (file stem) of a GGUF in MODELS_DIR, loaded first. "
        "Unset: a user GGUF in MODELS_DIR wins over the packaged default.",
    )
    models_dir: Path = Field(
        default=Path("models"),
        validation_alias=AliasChoices("MODELS_DIR", "models_dir"),
        description="Folder whose GGUF files are all offered under their aliases.",
    )
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("LLMSERVER_HOST", "host"))
    port: int = Field(default=8000, validation_alias=AliasChoices("LLMSERVER_PORT", "port"))
    engine: Literal["llama-server", "llama-cpp-python"] = Field(
        default="llama-server",
        validation_alias=AliasChoices("LLM_ENGINE", "engine"),
        description="llama-server: llama.cpp's own server, supervised, serving LLM_PARALLEL "
        "requests at once by continuous batching. llama-cpp-python: in-process, one at a time.",
    )
    parallel: int = Field(
        default=4,
        ge=1,
        validation_alias=AliasChoices("LLM_PARALLEL", "parallel"),
        description="Requests generated at once (llama-server slots); more wait in order. "
        "Memory grows with LLM_PARALLEL x LLM_N_CTX.",
    )
    server_bin: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("LLAMA_SERVER_BIN", "server_bin"),
        description="llama-server executable; default: the one `make install` built.",
    )
    n_ctx: int = Field(
        default=4096,
        ge=64,
        validation_alias=AliasChoices("LLM_N_CTX", "n_ctx"),
        description="Context window in tokens, of each request (each slot).",
    )
    threads: int = Field(
        default_factory=lambda: usable_cores(),
        ge=1,
        validation_alias=AliasChoices("LLM_THREADS", "threads"),
        description="CPU threads for generation and prompt processing; default: the "
        "physical cores this process may run on.",
    )
    hold_ms: float = Field(
        default=10,
        ge=0,
        validation_alias=AliasChoices("LLM_HOLD_MS", "hold_ms"),
        description="A generation request that finds llama-server idle waits up to this "
        "long for others, so that requests arriving together share their first batch "
        "(released at once when they fill the free slots). 0: off.",
    )
    api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LLM_API_KEY", "api_key"),
        description="When set, every /v1 request must carry `Authorization: Bearer <key>`.",
    )
    allowed_hosts: str = Field(
        default="",
        validation_alias=AliasChoices("LLM_ALLOWED_HOSTS", "allowed_hosts"),
        description="Comma-separated host names (and addresses) requests may be addressed "
        "to (their Host header), against DNS rebinding; empty: the bind address, localhost, "
        "127.0.0.1, [::1] and the compose services' names; `*`: any.",
    )
    allowed_origins: str = Field(
        default="",
        validation_alias=AliasChoices("LLM_ALLOWED_ORIGINS", "allowed_origins"),
        description="Comma-separated web origins (`https://app.example.com`) whose pages "
        "may call llmserver from a browser; empty: none (browser cross-site requests are "
        "refused; clients that are not browsers send no Origin and are not affected).",
    )
    seed: int = Field(
        default=-1,
        validation_alias=AliasChoices("LLM_SEED", "seed"),
        description="Sampling seed; -1 picks a random one at start.",
    )
    embed_max_inputs: int = Field(
        default=512,
        ge=1,
        validation_alias=AliasChoices("EMBED_MAX_INPUTS", "embed_max_inputs"),
        description="Inputs per /v1/embeddings request; more are refused with a 400.",
    )
    embed_max_input_chars: int = Field(
        default=32_768,
        ge=1,
        validation_alias=AliasChoices("EMBED_MAX_INPUT_CHARS", "embed_max_input_chars"),
        description="Characters (or token ids) per /v1/embeddings input; a longer one is "
        "refused with a 400. The model reads no more than its limit of word pieces (256 "
        "for all-MiniLM-L6-v2, about 1,000 characters of English), as in rag.",
    )
    verbose: bool = Field(
        default=False,
        validation_alias=AliasChoices("LLM_VERBOSE", "verbose"),
        description="Print llama.cpp's own load and timing logs.",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        validation_alias=AliasChoices("LOG_FORMAT", "log_format"),
        description="json: one JSON object per line; text: for reading; auto: text when "
        "stderr is a terminal, JSON otherwise.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO",
        validation_alias=AliasChoices("LOG_LEVEL", "log_level"),
        description="Least severe log lines written.",
    )

    @field_validator("api_key", "model", "server_bin", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `LLM_API_KEY=` in a .env or compose file means "no key", not "the empty key".
        return None if value == "" else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
