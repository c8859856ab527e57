"""rag configuration: one typed object, read from the environment (and `.env`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str, field: str) -> AliasChoices:
    return AliasChoices(name, field)


class RagSettings(BaseSettings):
    """Every knob of rag, each with its environment variable and default."""

    # case_sensitive: otherwise each field is also read from its bare name in any case, and
    # a PORT or HOST set by the platform would move the server.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True,
                                      case_sensitive=True)

    data_dir: Path = Field(
        default=Path("data"),
        validation_alias=_env("DATA_DIR", "data_dir"),
        description="Embedded Chroma (data/chroma), the lexical index (data/lexical) and the "
        "exported ONNX models (data/models) live here.",
    )
    chroma_url: str | None = Field(
        default=None,
        validation_alias=_env("CHROMA_URL", "chroma_url"),
        description="A Chroma server (e.g. http://127.0.0.1:8001); unset: embedded Chroma.",
    )
    embed_model: str | None = Field(
        default=None,
        validation_alias=_env("EMBED_MODEL", "embed_model"),
        description="Path of a sentence-transformers model; unset: the packaged all-MiniLM-L6-v2.",
    )
    embed_backend: Literal["onnx-int8", "onnx", "torch"] = Field(
        default="onnx-int8",
        validation_alias=_env("EMBED_BACKEND", "embed_backend"),
        description="onnx-int8 (fastest, see docs/benchmarks.md), onnx (float32) or torch.",
    )
    embed_batch_size: int = Field(
        default=32, ge=1, validation_alias=_env("EMBED_BATCH_SIZE", "embed_batch_size"),
        description="Chunks per model call.",
    )
    embed_url: str | None = Field(
        default=None,
        validation_alias=_env("EMBED_URL", "embed_url"),
        description="An OpenAI-compatible API's base URL (e.g. llmserver's, "
        "http://127.0.0.1:8000/v1) whose /embeddings gives the vectors, so that only that "
        "server loads the model; the tokenizer, for chunking, still comes from EMBED_MODEL's "
        "folder (or the packaged one). Unset: the model is loaded here.",
    )
    # The usual EMBED_URL is llmserver, whose key the deployment already sets as LLM_API_KEY
    # (for the chatbot): read that too rather than ask for a second copy of the secret.
    embed_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("EMBED_API_KEY", "LLM_API_KEY", "embed_api_key"),
        description="Bearer key sent to EMBED_URL; unset: LLM_API_KEY's.",
    )
    chunk_tokens: int = Field(
        default=200,
        ge=32,
        validation_alias=_env("RAG_CHUNK_TOKENS", "chunk_tokens"),
        description="Target chunk size in the embedding model's word pieces (capped by the "
        "model's own limit, 256 for all-MiniLM-L6-v2).",
    )
    chunk_overlap: int = Field(
        default=40, ge=0, validation_alias=_env("RAG_CHUNK_OVERLAP", "chunk_overlap"),
        description="Word pieces of the previous chunk repeated (whole paragraphs or "
        "sentences), at most half a chunk.",
    )
    fetch_timeout: float = Field(
        default=15.0,
        gt=0,
        validation_alias=_env("RAG_FETCH_TIMEOUT", "fetch_timeout"),
        description="Seconds to connect and between bytes read, per HTTP request.",
    )
    max_fetch_bytes: int = Field(
        default=20_000_000,
        ge=1024,
        validation_alias=_env("RAG_MAX_FETCH_BYTES", "max_fetch_bytes"),
        description="A larger response is refused (and not read past the limit).",
    )
    max_redirects: int = Field(
        default=5, ge=0, validation_alias=_env("RAG_MAX_REDIRECTS", "max_redirects"),
        description="Redirects followed per URL; a loop is reported as such.",
    )
    crawl_delay: float = Field(
        default=0.5,
        ge=0,
        validation_alias=_env("RAG_CRAWL_DELAY", "crawl_delay"),
        description="Seconds between two requests to the same site; robots.txt's Crawl-delay "
        "wins when larger.",
    )
    user_agent: str = Field(
        default="localchat-rag/0.1 (+self-hosted document ingestion)",
        validation_alias=_env("RAG_USER_AGENT", "user_agent"),
        description="Sent with every request, and the name matched in robots.txt.",
    )

    @field_validator("embed_url", "embed_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `EMBED_URL=` in a .env or compose file means "none", as for llmserver's settings.
        return None if value == "" else value

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def lexical_dir(self) -> Path:
        return self.data_dir / "lexical"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"
