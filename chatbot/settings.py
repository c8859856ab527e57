"""chatbot configuration: one typed object, read from the environment (and `.env`), and a
conversation's own settings (`ChatSettings`).

Longer than the other modules on purpose: it is the list of every variable, each field with
its default, its bounds and the sentence docs/configuration.md shows (tests/test_docs.py
keeps the two equal). Split by concern it would scatter the one place an operator's setting
is read and checked."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    """Accept both the documented environment variable and the field name (for tests)."""
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Every knob of the chat web app, each with its environment variable and default."""

    # case_sensitive: otherwise each field is also read from its bare name in any case, and
    # a PORT or HOST set by the platform would move the server.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True,
                                      case_sensitive=True)

    host: str = Field(default="127.0.0.1", validation_alias=_env("CHATBOT_HOST"))
    port: int = Field(default=5000, validation_alias=_env("CHATBOT_PORT"))
    data_dir: Path = Field(
        default=Path("data"), validation_alias=_env("DATA_DIR"),
        description="Folder of the conversation database and the generated secret key.",
    )
    secret_key: str | None = Field(
        default=None, validation_alias=_env("SECRET_KEY"),
        description="Signs the browser cookie. Unset: a random key kept in DATA_DIR.",
    )
    allowed_origins: str = Field(
        default="", validation_alias=_env("CHATBOT_ALLOWED_ORIGINS"),
        description="Comma-separated extra origins allowed to open the Socket.IO "
        "connection; the page's own origin is always allowed.",
    )
    allowed_hosts: str = Field(
        default="", validation_alias=_env("CHATBOT_ALLOWED_HOSTS"),
        description="Comma-separated host names (`chat.example.org`, `host:port`) this server "
        "answers for; any other Host header is refused (421) on every request and Socket.IO "
        "connection, which stops DNS rebinding. Always allowed: CHATBOT_HOST (unless 0.0.0.0), "
        "localhost, 127.0.0.1, [::1], the hosts of CHATBOT_ALLOWED_ORIGINS and IP addresses "
        "typed as such (no name to rebind); `*`: any host.",
    )
    redis_url: str | None = Field(
        default=None, validation_alias=_env("REDIS_URL"),
        description="Redis shared by several chatbot instances (`redis://host:6379/0`): "
        "Socket.IO events, stops and the one-answer-at-a-time rule reach every instance. "
        "Unset: one instance.",
    )
    auth: bool = Field(
        default=False, validation_alias=_env("AUTH"),
        description="on: the page asks to sign in; conversations, uploads and collections "
        "belong to users (`chatbot users add NAME --admin` makes the first). off: one "
        "anonymous owner per browser, everything shared.",
    )
    auth_trusted_header: str = Field(
        default="", validation_alias=_env("AUTH_TRUSTED_HEADER"),
        description="With AUTH on, a request header naming the signed-in user "
        "(`X-Forwarded-User`), set by an authenticating proxy; read only from "
        "AUTH_TRUSTED_PROXIES.",
    )
    auth_trusted_proxies: str = Field(
        default="", validation_alias=_env("AUTH_TRUSTED_PROXIES"),
        description="Comma-separated addresses and networks (`10.0.0.0/8`) of reverse "
        "proxies whose X-Forwarded-Proto, X-Forwarded-For and AUTH_TRUSTED_HEADER are "
        "believed; empty: none.",
    )
    auth_max_failures: int = Field(
        default=5, ge=0, validation_alias=_env("AUTH_MAX_FAILURES"),
        description="Failed sign-ins for one account from one client address within "
        "AUTH_FAILURE_WINDOW before that address's further attempts on that account are "
        "refused until the window passes (other addresses are not affected); 0: no limit.",
    )
    auth_max_failures_per_address: int = Field(
        default=20, ge=0, validation_alias=_env("AUTH_MAX_FAILURES_PER_ADDRESS"),
        description="Failed sign-ins per client address, whatever the account, before that "
        "address is refused until the window passes (password spraying); 0: no limit.",
    )
    auth_session_days: float = Field(
        default=14.0, gt=0, validation_alias=_env("AUTH_SESSION_DAYS"),
        description="With AUTH on, a session unused for this many days ends (each visit "
        "renews it); signing out ends it at once, on the server too.",
    )
    auth_failure_window: float = Field(
        default=900.0, gt=0, validation_alias=_env("AUTH_FAILURE_WINDOW"),
        description="Seconds during which failed sign-ins count.",
    )
    # Its length is checked by accounts/api_keys.py, not here: a validation error would
    # print the value.
    api_key: str | None = Field(
        default=None, validation_alias=_env("CHATBOT_API_KEY"),
        description="With AUTH off, the bearer key of the OpenAI-compatible API (`/v1/...`), "
        "16 characters or more; unset: the API is off. With AUTH on it is ignored: users make "
        "their own keys.",
    )
    cookie_secure: bool = Field(
        default=False, validation_alias=_env("COOKIE_SECURE"),
        description="Send the session cookie over HTTPS only, always; without it, whenever "
        "the request came over HTTPS (directly, or by a trusted proxy's X-Forwarded-Proto).",
    )
    user_messages_per_minute: int = Field(
        default=20, ge=0, validation_alias=_env("USER_MESSAGES_PER_MINUTE"),
        description="Messages one user (without accounts: one browser) may send per "
        "minute; 0: no limit.",
    )
    user_uploads_per_day: int = Field(
        default=200, ge=0, validation_alias=_env("USER_UPLOADS_PER_DAY"),
        description="Files and URLs one user may add per 24 hours; 0: no limit.",
    )
    max_sockets_per_address: int = Field(
        default=100, ge=0, validation_alias=_env("MAX_SOCKETS_PER_ADDRESS"),
        description="Open Socket.IO connections (tabs) one client address may hold on an "
        "instance; more are refused with a message. Each holds one of gunicorn's threads, so "
        "one client opening hundreds would lock everyone else out. Counted from the first "
        "Engine.IO request, before any handshake: a few over it are let in only to be told "
        "why, then refused outright; 0: no limit.",
    )
    socket_handshake_timeout: float = Field(
        default=10.0, gt=0, validation_alias=_env("SOCKET_HANDSHAKE_TIMEOUT"),
        description="Seconds an Engine.IO connection may stay open without completing the "
        "Socket.IO handshake (a page sends it at once); then it is closed, freeing its "
        "thread.",
    )
    user_storage_mb: float = Field(
        default=2000.0, ge=0, validation_alias=_env("USER_STORAGE_MB"),
        description="Megabytes of uploaded files one user may keep; 0: no limit.",
    )

    llm_base_url: str = Field(
        default="http://127.0.0.1:8000/v1", validation_alias=_env("LLM_BASE_URL"),
        description="OpenAI-compatible API root, ending in /v1.",
    )
    llm_api_key: str | None = Field(default=None, validation_alias=_env("LLM_API_KEY"))
    llm_model: str | None = Field(
        default=None, validation_alias=_env("LLM_MODEL"),
        description="Model to request; unset: the first one the server lists.",
    )
    llm_n_ctx: int = Field(
        default=4096, ge=256, validation_alias=_env("LLM_N_CTX"),
        description="Context size when the server does not report one in /health.",
    )
    llm_concurrency: int | None = Field(
        default=None, ge=1, validation_alias=_env("LLM_CONCURRENCY"),
        description="Answers generated upstream at once; others wait with status `queued`. "
        "Unset: the slots the server reports in /health (llmserver: LLM_PARALLEL), else 1.",
    )
    llm_connect_timeout: float = Field(
        default=5.0, gt=0, validation_alias=_env("LLM_CONNECT_TIMEOUT"),
        description="Seconds to reach the LLM server before telling the user it is down.",
    )
    llm_read_timeout: float = Field(
        default=120.0, gt=0, validation_alias=_env("LLM_READ_TIMEOUT"),
        description="Seconds of silence from the LLM server (before or between tokens) "
        "before the answer fails with an error.",
    )

    system_prompt: str = Field(
        default="", validation_alias=_env("CHAT_SYSTEM_PROMPT"),
        description="Default system prompt of new conversations; empty: none is sent.",
    )
    temperature: float = Field(
        default=0.7, ge=0, le=2, validation_alias=_env("CHAT_TEMPERATURE"),
    )
    top_p: float = Field(default=0.95, gt=0, le=1, validation_alias=_env("CHAT_TOP_P"))
    max_tokens: int = Field(
        default=512, ge=1, validation_alias=_env("CHAT_MAX_TOKENS"),
        description="Default cap on answer length, in tokens.",
    )
    stream_interval_ms: int = Field(
        default=25, ge=0, le=1000, validation_alias=_env("CHAT_STREAM_INTERVAL_MS"),
        description="Tokens arriving sooner than this after the last `token` event are "
        "sent together with the next one; 0 sends every token on its own.",
    )
    max_message_chars: int = Field(
        default=16000, ge=1, validation_alias=_env("CHAT_MAX_MESSAGE_CHARS"),
        description="Longest message a user may send, in characters.",
    )

    rag_collection: str = Field(
        default="default", min_length=1, validation_alias=_env("RAG_COLLECTION"),
        description="Collection `/rag on` uses when none is named, and the page preselects.",
    )
    rag_k: int = Field(
        default=4, ge=1, le=20, validation_alias=_env("RAG_K"),
        description="Passages retrieved per question (fewer go into the prompt when they "
        "do not fit the context budget).",
    )
    rag_context_share: float = Field(
        default=0.5, gt=0, le=0.9, validation_alias=_env("RAG_CONTEXT_SHARE"),
        description="Largest share of the context window (after the answer's room) that "
        "retrieved passages may fill.",
    )
    rag_focus_tokens: int = Field(
        default=320, ge=32, le=32768, validation_alias=_env("RAG_FOCUS_TOKENS"),
        description="Most tokens the passages of a grounded prompt may take: each passage "
        "goes in as its sentences that best match the question, best passages first.",
    )
    rag_min_evidence: float = Field(
        default=0.45, ge=-1, le=1, validation_alias=_env("RAG_MIN_EVIDENCE"),
        description="When no sentence of the passages found is at least this similar to the "
        "question (cosine, the embedding model's), the answer says the documents do not "
        "seem to cover it instead of guessing; -1 never says so.",
    )
    rag_answer: Literal["auto", "quote", "generate", "both"] = Field(
        default="auto", validation_alias=_env("RAG_ANSWER"),
        description="A grounded answer is the best matching sentence quoted with its "
        "citation (quote), the model's answer (generate), or the quote then the model's "
        "answer (both); auto: both for a base model, generate for a model with a chat "
        "template.",
    )
    rag_prompt: Literal["auto", "completion", "chat"] = Field(
        default="auto", validation_alias=_env("RAG_PROMPT"),
        description="How a grounded question is put to the model: a completion prompt "
        "with a worked example (completion), or a chat message (chat); auto: completion "
        "for a model without a chat template of its own (a base model).",
    )
    rag_timeout: float = Field(
        default=10.0, gt=0, validation_alias=_env("RAG_TIMEOUT"),
        description="Seconds retrieval may take (the first question also loads the "
        "embedding model) before the answer goes ahead without documents.",
    )
    upload_max_mb: float = Field(
        default=25.0, gt=0, validation_alias=_env("UPLOAD_MAX_MB"),
        description="Largest file accepted from the page, in megabytes.",
    )
    upload_max_files: int = Field(
        default=10, ge=1, validation_alias=_env("UPLOAD_MAX_FILES"),
        description="Files accepted in one upload.",
    )
    crawl_max_pages: int = Field(
        default=20, ge=1, validation_alias=_env("RAG_CRAWL_MAX_PAGES"),
        description="Pages fetched at most when a URL is submitted with crawling on.",
    )
    ingest_workers: int = Field(
        default=2, ge=1, le=16, validation_alias=_env("INGEST_WORKERS"),
        description="Ingestion jobs run at once; a user runs at most one fewer than this "
        "(one with the default 2), so another user's job always finds a worker.",
    )
    rag_url_allowlist: str = Field(
        default="", validation_alias=_env("RAG_URL_ALLOWLIST"),
        description="Comma-separated hosts (`intranet.example`, `localhost:8080`) and "
        "networks (`10.0.0.0/8`) that URLs from the page may reach although they are not "
        "public; everything else non-public is refused.",
    )
    rag_watch: str = Field(
        default="", validation_alias=_env("RAG_WATCH"),
        description="Comma-separated `DIR:COLLECTION` pairs: each folder is kept in step "
        "with its collection (a new file added, a changed one re-ingested, a deleted one "
        "removed; checked every few seconds, and caught up at start). Unset: none.",
    )
    rag_refetch_hours: float = Field(
        default=0.0, ge=0, validation_alias=_env("RAG_REFETCH_HOURS"),
        description="Every this many hours, every URL source of every collection is fetched "
        "again; only pages that changed are embedded again. 0: never.",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", validation_alias=_env("LOG_FORMAT"),
        description="json: one JSON object per line; text: for reading; auto: text when "
        "stderr is a terminal, JSON otherwise.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=_env("LOG_LEVEL"),
        description="Least severe log lines written. No level logs what users type.",
    )

    @field_validator("rag_watch")
    @classmethod
    def _watch_pairs(cls, value: str) -> str:
        for entry in (e.strip() for e in value.split(",") if e.strip()):
            folder, _, collection = entry.rpartition(":")
            if not folder or not collection:
                raise ValueError(f"{entry!r} is not DIR:COLLECTION")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def upload_max_bytes(self) -> int:
        return int(self.upload_max_mb * 1024 * 1024)

    @property
    def url_allowlist(self) -> list[str]:
        return [e.strip() for e in self.rag_url_allowlist.split(",") if e.strip()]

    @property
    def watched_folders(self) -> list[tuple[Path, str]]:
        """RAG_WATCH as (folder, collection) pairs."""
        pairs = []
        for entry in (e.strip() for e in self.rag_watch.split(",") if e.strip()):
            folder, _, collection = entry.rpartition(":")
            pairs.append((Path(folder), collection))
        return pairs

    @property
    def trusted_proxies(self) -> list[str]:
        return [e.strip() for e in self.auth_trusted_proxies.split(",") if e.strip()]

    @property
    def allowed_host_list(self) -> list[str]:
        """CHATBOT_ALLOWED_HOSTS with the defaults: the bind address (unless it means every
        interface: `0.0.0.0` in a Host header is itself a rebinding trick), loopback names,
        and the hosts of CHATBOT_ALLOWED_ORIGINS, which the operator already trusts."""
        hosts = [e.strip().lower() for e in self.allowed_hosts.split(",") if e.strip()]
        defaults = ["localhost", "127.0.0.1", "[::1]"]
        if self.host not in ("0.0.0.0", "::", ""):
            defaults.append(f"[{self.host}]" if ":" in self.host else self.host.lower())
        origins = [o.split("://", 1)[-1].lower() for o in self.extra_origins]
        return hosts + defaults + origins

    @property
    def extra_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()]

    @property
    def llm_root_url(self) -> str:
        """The server root, where llama.cpp-style servers answer /health and /tokenize."""
        url = self.llm_base_url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url


class ChatSettings(BaseModel):
    """Per-conversation settings; new conversations start from the environment's defaults."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    system_prompt: str = Field(default="", max_length=8000)
    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_tokens: int = Field(default=512, ge=1, le=32768)
    # None: the server's default model (LLM_MODEL, else the first the server lists).
    model: str | None = Field(default=None, max_length=200)
    # Retrieval from the user's documents (see chatbot/chat/grounding.py); off by default.
    rag: bool = False
    rag_collection: str | None = Field(default=None, max_length=200)
    rag_k: int | None = Field(default=None, ge=1, le=20)

    @classmethod
    def defaults(cls, settings: Settings) -> ChatSettings:
        return cls(system_prompt=settings.system_prompt, temperature=settings.temperature,
                   top_p=settings.top_p, max_tokens=settings.max_tokens)

    @classmethod
    def load(cls, settings: Settings, stored: dict[str, Any]) -> ChatSettings:
        """Defaults overlaid with what the conversation changed; stale keys are ignored."""
        merged = cls.defaults(settings).model_dump()
        merged.update({k: v for k, v in stored.items() if k in cls.model_fields})
        try:
            return cls(**merged)
        except ValidationError:
            return cls.defaults(settings)


def from_environment(prog: str) -> Settings | None:
    """The settings a command line (`prog`) runs with; None, with the reason printed on
    stderr, when the environment holds a bad value."""
    try:
        return Settings()
    except ValidationError as exc:
        print(f"{prog}: error: bad configuration in the environment:\n{exc}", file=sys.stderr)
        return None
