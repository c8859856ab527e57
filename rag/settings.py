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
        "ONNX exports made on first use (data/models) live here.",
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
        description="Seconds to connect and between bytes read, per HTTP request (the whole "
        "request is bounded by RAG_FETCH_DEADLINE).",
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
        "wins when larger, up to RAG_CRAWL_DELAY_MAX.",
    )
    # A site's robots.txt is written by whoever runs it: an unbounded Crawl-delay would let
    # one URL hold an ingestion worker for as long as that site likes.
    crawl_delay_max: float = Field(
        default=5.0,
        ge=0,
        validation_alias=_env("RAG_CRAWL_DELAY_MAX", "crawl_delay_max"),
        description="The longest robots.txt Crawl-delay obeyed, in seconds; a larger one is "
        "capped to this (and the summary says so).",
    )
    fetch_deadline: float = Field(
        default=60.0,
        gt=0,
        validation_alias=_env("RAG_FETCH_DEADLINE", "fetch_deadline"),
        description="Seconds one HTTP request may take in all (connect, headers and the whole "
        "body, redirects included), however slowly the server sends; RAG_FETCH_TIMEOUT bounds "
        "each wait within it.",
    )
    job_deadline: float = Field(
        default=900.0,
        gt=0,
        validation_alias=_env("RAG_JOB_DEADLINE", "job_deadline"),
        description="Seconds one ingestion (all its sources, a whole crawl) may spend fetching "
        "and reading; sources not reached by then are skipped, with that reason. Library "
        "callers (the chat app) get it by default; `rag ingest` has none (Ctrl-C stops it).",
    )
    # A few KB of PDF can declare thousands of pages of 200 x 200 inches: OCR renders and
    # reads each page without a text layer, so both the count and the size need a cap.
    ocr_max_pages: int = Field(
        default=100,
        ge=0,
        validation_alias=_env("RAG_OCR_MAX_PAGES", "ocr_max_pages"),
        description="Pages without a text layer rendered (for OCR, or to tell a blank page "
        "from a scan) per PDF; the rest are named as unread, with this reason.",
    )
    ocr_max_pixels: int = Field(
        default=25_000_000,
        ge=1_000_000,
        validation_alias=_env("RAG_OCR_MAX_PIXELS", "ocr_max_pixels"),
        description="Pixels of one page rendered for OCR (an A4 page at 180 dpi is 3.1 "
        "million), checked from the page's size before rendering; a larger page is named as "
        "unread, with this reason. Bounds the memory of one page's OCR.",
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
