"""Grounding an answer in the user's documents: retrieval for a turn, query rewriting, the
prompt template, fitting passages into the context budget, and the `sources` of `done`.

Chat calls `Grounding.retrieve` once per answer, in the answer's worker thread, and puts what
it returns into the newest user message (the only place where it does not break llama.cpp's
prefix cache). The passages are never stored: history keeps the question, the answer and its
sources.

Retrieval itself runs on a small pool with a deadline (RAG_TIMEOUT): a Chroma server that
does not answer, or a model still loading, delays one answer by at most that long, and the
answer then goes ahead without documents and says why.

Query rewriting (no extra LLM call: on 2 cores that would double the wait): a follow-up such
as "and what about its size?" says little by itself. A message is treated as a follow-up when
it has at most FOLLOW_UP_WORDS words, contains a pronoun or other back-reference (it, its,
they, this, that, there, ...), or opens like one ("and", "what about", "also"); then the
previous user question is put in front of it for retrieval only. The model still sees the
message as typed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot import budget
from chatbot.llm import LLMClient
from chatbot.metrics import Metrics
from chatbot.settings import ChatSettings, Settings
from chatbot.store import Message, Store
from rag import Document, Failure, Passage, Rag, RagError, RagSettings

log = logging.getLogger("chatbot.grounding")

Emit = Callable[[str, dict[str, Any], str], None]

FOLLOW_UP_WORDS = 5
BACK_REFERENCES = frozenset((
    "it", "its", "it's", "itself", "they", "them", "their", "theirs", "this", "that", "these",
    "those", "he", "him", "his", "she", "her", "hers", "there", "then", "one", "ones", "former",
    "latter", "same", "such"))
FOLLOW_UP_OPENERS = ("and ", "and?", "what about", "how about", "also", "but ", "so ")

# Sources first and the instruction right before the question: a small base model follows
# what it read last, and a "Question:" label would only be imitated in the answer.
SOURCES_HEADING = "Sources from the user's documents:"
INSTRUCTIONS = (
    "Answer the question below using only these sources, and cite them like [1]. If they do "
    "not contain the answer, say that the documents do not say, instead of guessing.")
PAGE_INSTRUCTIONS = "Summarize the web page below in a few sentences."
URL_ONLY = re.compile(r"^<?(https?://\S+?)>?$", re.IGNORECASE)


@dataclass(frozen=True)
class OneOff:
    """A grounded answer asked for by a command rather than by the conversation's setting:
    `/rag QUESTION` (collection) or `/summarize URL` (url)."""

    collection: str | None = None
    url: str | None = None


def follow_up(text: str) -> bool:
    lowered = text.lower().strip()
    words = re.findall(r"[\w']+", lowered)
    return (len(words) <= FOLLOW_UP_WORDS or any(w in BACK_REFERENCES for w in words)
            or lowered.startswith(FOLLOW_UP_OPENERS))


def retrieval_query(text: str, history: list[Message]) -> str:
    """What to search for: the message, or, for a follow-up, the previous question too."""
    if not follow_up(text):
        return text
    previous = [m.content for m in history if m.role == "user" and m.content != text]
    return f"{previous[-1]}\n{text}" if previous else text


def bare_url(text: str) -> str | None:
    match = URL_ONLY.match(text.strip())
    return match.group(1) if match else None


def url_offer(url: str) -> dict[str, Any]:
    """The `notice` answering a message that is only a link: summarize it, or not."""
    return {"text": f"That is a link. Shall I read {url} and summarize it? The page is "
            "fetched by this server, which refuses private and local addresses.",
            "level": "info", "actions": [{"label": "Summarize it", "text": f"/summarize {url}"}]}


class Grounding:
    def __init__(self, settings: Settings, store: Store, llm: LLMClient, metrics: Metrics,
                 emit: Emit, rag: Rag | None = None):
        self.settings = settings
        self.store = store
        self.llm = llm
        self.metrics = metrics
        self.emit = emit
        self.rag = rag or Rag(RagSettings(data_dir=settings.data_dir))
        self.uploads_dir = (settings.data_dir / "uploads").resolve()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rag-retrieve")
        self._pending: dict[str, OneOff] = {}
        self._lock = threading.Lock()
        self._warming: Future[None] | None = None

    # Set-up ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the embedding model in the background, once, so that the first grounded
        question does not pay for it (called when RAG is turned on or a document arrives)."""
        with self._lock:
            if self._warming is None:
                self._warming = self._pool.submit(self._load_model)

    def _load_model(self) -> None:
        try:
            self.rag.embedder.embed(["warm up"])
        except Exception:
            log.exception("could not load the embedding model")

    def expect(self, conversation_id: str, once: OneOff | None) -> None:
        """The next answer in this conversation is grounded as `once` says (None: forget)."""
        with self._lock:
            if once is None:
                self._pending.pop(conversation_id, None)
            else:
                self._pending[conversation_id] = once

    def collections(self) -> list[dict[str, Any]]:
        """Raises RagError with a readable reason when the store cannot be reached."""
        return [{"name": c.name, "chunks": c.chunks, "documents": c.documents}
                for c in self.rag.collections()]

    # One answer -----------------------------------------------------------------------

    def retrieve(self, conversation_id: str, text: str,
                 chat: ChatSettings) -> tuple[str, list[dict[str, Any]]]:
        """(context for the prompt, sources for `done`); ("", []) when not grounded."""
        with self._lock:
            once = self._pending.pop(conversation_id, None)
        if once is not None and once.url:
            return self._page(conversation_id, once.url, text, chat)
        if once is None and not chat.rag:
            return "", []
        collection = ((once and once.collection) or chat.rag_collection
                      or self.settings.rag_collection)
        k = chat.rag_k or self.settings.rag_k
        self.emit("status", {"state": "retrieving", "collection": collection}, conversation_id)
        history = self.store.messages(conversation_id)
        query = retrieval_query(text, history)
        started = time.perf_counter()
        try:
            passages = self._pool.submit(self.rag.retrieve, query, collection, k).result(
                timeout=self.settings.rag_timeout)
        except FutureTimeout:
            return self._without(conversation_id, collection,
                                 f"the search took longer than {self.settings.rag_timeout:g} s")
        except RagError as exc:
            return self._without(conversation_id, collection, str(exc))
        except Exception:
            log.exception("retrieval failed")
            return self._without(conversation_id, collection, "an unexpected error")
        elapsed = time.perf_counter() - started
        self.metrics.retrieval.observe(elapsed)
        log.info("retrieved %d passages from %s in %.0f ms", len(passages), collection,
                 elapsed * 1000)
        if not passages:
            self.emit("notice", {"text": f"Nothing in collection `{collection}` matches this "
                                 "question; answering without documents.",
                                 "level": "warning"}, conversation_id)
            return "", []
        return self._fit(passages, text, chat)

    def _without(self, room: str, collection: str, reason: str) -> tuple[str, list]:
        self.metrics.retrieval_failures.inc()
        self.emit("notice", {"text": f"Could not search collection `{collection}` "
                             f"({reason.rstrip('.')}). This answer does not use your "
                             "documents.", "level": "warning"}, room)
        return "", []

    def _room_for_context(self, text: str, chat: ChatSettings) -> tuple[str, int]:
        """(model, tokens the retrieved text may use): a share of what the system prompt,
        the question and the answer leave; history makes way for it, not the other way."""
        model = chat.model or self.llm.default_model()
        n_ctx = self.llm.n_ctx()
        fixed = (budget.PER_PROMPT_TOKENS + budget.SAFETY_TOKENS + 2 * budget.PER_MESSAGE_TOKENS
                 + self.llm.count_tokens(chat.system_prompt, model)
                 + self.llm.count_tokens(text, model) + min(chat.max_tokens, n_ctx // 2))
        return model, int(max(0, n_ctx - fixed) * self.settings.rag_context_share)

    def _fit(self, passages: list[Passage], text: str,
             chat: ChatSettings) -> tuple[str, list[dict[str, Any]]]:
        """Best passages first, each whole, while they fit: fewer passages rather than an
        over-long prompt. Passages of the same document page share one source number."""
        model, room = self._room_for_context(text, chat)
        used = self.llm.count_tokens(f"{SOURCES_HEADING}\n{INSTRUCTIONS}", model) + 8
        numbers: dict[tuple[str, int | None], int] = {}
        sources: list[dict[str, Any]] = []
        blocks: list[str] = []
        for passage in passages:
            key = (passage.source, passage.page)
            number = numbers.get(key, len(numbers) + 1)
            where = f", page {passage.page}" if passage.page else ""
            block = f"[{number}] {passage.title}{where}\n{passage.text.strip()}"
            cost = self.llm.count_tokens(block, model) + 2
            if used + cost > room:
                continue
            used += cost
            blocks.append(block)
            if key not in numbers:
                numbers[key] = number
                sources.append(self.source(passage))
        if len(blocks) < len(passages):
            log.info("%d of %d passages fit the context budget", len(blocks), len(passages))
        if not blocks:
            return "", []
        context = f"{SOURCES_HEADING}\n\n" + "\n\n".join(blocks) + f"\n\n{INSTRUCTIONS}"
        return context, sources

    def source(self, passage: Passage) -> dict[str, Any]:
        """{"title", "url", "page"?, "score"}: an uploaded file links to where we serve it,
        a PDF at its page; a file ingested from the server's disk keeps its path."""
        url = passage.source
        path = Path(passage.source)
        if path.is_absolute() and path.parent.parent == self.uploads_dir:
            url = f"/files/{path.parent.name}"
        if passage.page and (url.startswith("/files/") or url.lower().endswith(".pdf")):
            url += f"#page={passage.page}"
        out: dict[str, Any] = {"title": passage.title, "url": url,
                               "score": round(passage.score, 4)}
        if passage.page:
            out["page"] = passage.page
        return out

    # A web page to summarize ----------------------------------------------------------

    def _page(self, room: str, url: str, text: str,
              chat: ChatSettings) -> tuple[str, list[dict[str, Any]]]:
        self.emit("status", {"state": "retrieving", "url": url}, room)
        document = self.fetch_page(url)
        if isinstance(document, Failure):
            self.emit("notice", {"text": f"Could not read {url}: {document.reason}.",
                                 "level": "warning"}, room)
            return "", []
        model, room_tokens = self._room_for_context(text, chat)
        kept: list[str] = []
        used = self.llm.count_tokens(PAGE_INSTRUCTIONS, model)
        for section in document.sections:
            cost = self.llm.count_tokens(section.text, model) + 2
            if used + cost > room_tokens:
                break
            used += cost
            kept.append(section.text)
        if not kept:
            self.emit("notice", {"text": f"{url} has no text that fits the model's context.",
                                 "level": "warning"}, room)
            return "", []
        context = f"{PAGE_INSTRUCTIONS}\n\n# {document.title}\n\n" + "\n\n".join(kept)
        return context, [{"title": document.title, "url": document.source, "score": 1.0}]

    def fetch_page(self, url: str) -> Document | Failure:
        """One page, with the same address rules as documents added from the page."""
        return self.rag.fetch_page(url, allow_private=False,
                                   url_allowlist=self.settings.url_allowlist)
