"""Grounding an answer in the user's documents: retrieval for a turn, query rewriting, the
prompt template, fitting passages into the context budget, and the `sources` of `done`.

Chat calls `Grounding.retrieve` once per answer, in the answer's worker thread, with the
answer's `Budget` (it says how many tokens passages may use, and counts them), and puts what
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
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.accounts.viewer import Viewer
from chatbot.chat.budget import Budget
from chatbot.chat.grounded_prompt import PAGE_INSTRUCTIONS, quoted
from chatbot.chat.passages import Retrieval, fit
from chatbot.chat.whole import Target, Whole, inventory
from chatbot.common import Emit
from chatbot.db.rows import Message
from chatbot.db.store import Store
from chatbot.documents.library import Library, display_name
from chatbot.errors import LLMError
from chatbot.metrics import Metrics
from chatbot.settings import ChatSettings, Settings
from rag import Evidence, Explained, Failure, Passage, RagError

log = logging.getLogger("chatbot.chat.grounding")

FOLLOW_UP_WORDS = 5
BACK_REFERENCES = frozenset((
    "it", "its", "it's", "itself", "they", "them", "their", "theirs", "this", "that", "these",
    "those", "he", "him", "his", "she", "her", "hers", "there", "then", "one", "ones", "former",
    "latter", "same", "such"))
FOLLOW_UP_OPENERS = ("and ", "and?", "what about", "how about", "also", "but ", "so ")

URL_ONLY = re.compile(r"^<?(https?://\S+?)>?$", re.IGNORECASE)


@dataclass(frozen=True)
class OneOff:
    """A grounded answer asked for by a command rather than by the conversation's setting:
    `/rag QUESTION` (collection), `/summarize URL` (url), or a whole-document task
    (`task` "summary", "compare" or "inventory" of `targets`, each (collection, source or
    None for the whole collection, title): whole.py)."""

    collection: str | None = None
    url: str | None = None
    task: str | None = None
    targets: tuple[tuple[str, str | None, str], ...] = ()
    source: str | None = None  # with `collection`: search this one document of it (a #mention)
    # Files attached to the question, as its message shows them: {"name", "kind", "size",
    # "url"}; they are documents of `collection`, the conversation's own.
    attachments: tuple[dict[str, Any], ...] = ()

    def stored(self) -> dict[str, Any]:
        """The form kept in the question's `meta`."""
        kept: dict[str, Any] = {k: v for k, v in (
            ("collection", self.collection), ("url", self.url), ("task", self.task),
            ("source", self.source)) if v}
        if self.targets:
            kept["targets"] = [list(t) for t in self.targets]
        if self.attachments:
            kept["attachments"] = list(self.attachments)
        return kept

    @classmethod
    def from_stored(cls, data: object) -> OneOff | None:
        if not isinstance(data, dict):
            return None
        collection, url, task = data.get("collection"), data.get("url"), data.get("task")
        source = data.get("source")
        targets = tuple(
            (t[0], t[1], t[2]) for t in data.get("targets") or ()
            if isinstance(t, list) and len(t) == 3 and isinstance(t[0], str)
            and isinstance(t[1], str | None) and isinstance(t[2], str))
        attachments = tuple(a for a in data.get("attachments") or ()
                            if isinstance(a, dict) and isinstance(a.get("name"), str))
        return cls(collection if isinstance(collection, str) else None,
                   url if isinstance(url, str) else None,
                   task if task in ("summary", "compare", "inventory") else None, targets,
                   source if isinstance(source, str) else None, attachments)


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
    def __init__(self, settings: Settings, store: Store, library: Library, metrics: Metrics,
                 emit: Emit, whole: Whole):
        self.settings = settings
        self.whole = whole
        self.store = store
        self.library = library
        self.metrics = metrics
        self.emit = emit
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rag-retrieve")
        # Owners whose pages show the retrieval debug view (a page setting, kept in memory:
        # a page sends it again when it connects).
        self._showing: set[str] = set()
        self._lock = threading.Lock()

    def show_retrieval(self, owner: str, on: bool) -> None:
        """Send `owner`'s grounded answers a `retrieval` event (ranks and scores) or not."""
        with self._lock:
            (self._showing.add if on else self._showing.discard)(owner)

    # One answer -----------------------------------------------------------------------

    def retrieve(self, conversation_id: str, chat: ChatSettings, budget: Budget,
                 viewer: Viewer, once: OneOff | None = None,
                 completion: bool = False, follows: int | None = None) -> Retrieval:
        """Passages (or a page) for the question `budget.question`, cut to what answers it
        and fitted into the room the budget leaves; an empty Retrieval when the answer is
        not grounded, one with `not_covered` when the documents do not seem to hold the
        answer. `once`: the grounding a command asked for, instead of the conversation's
        setting. `completion`: for a base model's completion prompt rather than a chat
        message. `follows`: the message the question follows (a follow-up question is
        searched with the one before it on that path). Only collections `viewer` may read
        are searched (checked now: a collection may have been unshared since it was
        chosen)."""
        if once is not None and once.url:
            return self._page(conversation_id, once.url, budget)
        if once is not None and once.task:
            return self._whole(conversation_id, once, budget, viewer, completion)
        if once is None and not chat.rag:
            return Retrieval()
        collection = ((once and once.collection) or chat.rag_collection
                      or viewer.default_collection(self.settings.rag_collection))
        k = chat.rag_k or self.settings.rag_k
        self.emit("status", {"state": "retrieving", "collection": collection}, conversation_id)
        history = self.store.ancestors(conversation_id, follows)
        query = retrieval_query(budget.question, history)
        with self._lock:
            debug = viewer.key in self._showing

        only = once.source if once is not None else None
        whole_room = budget.context_room(self.settings.rag_context_share)
        whole = False

        def search() -> tuple[list[Evidence], list[Explained], list[str]]:
            nonlocal whole
            if only is not None:
                explained = []
                passages = self._whole_if_it_fits(collection, only, budget, whole_room)
                whole = bool(passages)
                passages = passages or self._within(query, collection, only, k, viewer)
            elif debug:
                explained = self.library.explain(query, collection, k, viewer)
                passages = [e.passage for e in explained]
            else:
                explained, passages = [], self.library.retrieve(query, collection, k, viewer)
            unknown = self.library.unknown_words(collection, budget.question)
            return self.library.weigh(query, passages), explained, unknown

        started = time.perf_counter()
        try:
            evidence, explained, unknown = self._pool.submit(search).result(
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
        strength = max((e.best.score for e in evidence if e.best), default=0.0)
        log.info("retrieved %d passages from %s in %.0f ms (evidence %.2f)", len(evidence),
                 collection, elapsed * 1000, strength)
        if not evidence:
            self.emit("notice", {"text": f"Nothing in collection `{collection}` matches this "
                                 "question; answering without documents.",
                                 "level": "warning"}, conversation_id)
            return Retrieval(retrieving_s=elapsed)
        judged = self.settings.rag_min_evidence > -1
        if judged and not whole and (unknown or strength < self.settings.rag_min_evidence):
            retrieval = Retrieval(not_covered={
                "collection": collection, "query": query, "evidence": round(strength, 3),
                "unknown": unknown,
                "closest": [{k: v for k, v in self.source(e.passage).items()
                             if k in ("title", "url", "page")} for e in evidence[:3]]})
        else:
            # A document given whole goes in whole: no cut to the question's best sentences.
            room = whole_room if whole else min(whole_room, self.settings.rag_focus_tokens)
            retrieval = fit(evidence, budget, room=room, completion=completion,
                            link=self.source,
                            neighbours=lambda p: self.library.neighbours(collection, p),
                            whole=whole)
        retrieval.retrieving_s = time.perf_counter() - started
        retrieval.query = query
        retrieval.strength = round(strength, 3)
        retrieval.unknown = unknown
        if debug:
            self.emit("retrieval", self._explanation(collection, query, explained, retrieval),
                      conversation_id)
        return retrieval

    def _whole_if_it_fits(self, collection: str, source: str, budget: Budget,
                          room: int) -> list[Passage]:
        """Every passage of one document, in order, when together they fit `room` tokens
        (an attached or mentioned document the question is about); [] when they do not."""
        passages = self.library.rag.document_passages(collection, source)
        # Neighbouring passages overlap: the text counted is what the prompt would hold.
        if budget.count("\n\n".join(p.text for p in passages)) > room:
            return []
        return passages

    def _within(self, query: str, collection: str, source: str, k: int,
                viewer: Viewer) -> list[Passage]:
        """The best passages of one document: those of the collection's search that are
        its, or, when the search finds none of them, the document's first ones."""
        found = [p for p in self.library.retrieve(query, collection, k * 5, viewer)
                 if p.source == source]
        return found[:k] or self.library.rag.document_passages(collection, source)[:k]

    def _explanation(self, collection: str, query: str, explained: list[Explained],
                     retrieval: Retrieval) -> dict[str, Any]:
        """The `retrieval` event: every passage found, best first, with its ranks, its
        fused score and whether it fitted into the prompt."""
        return {"collection": collection, "query": query, "passages": [
            {**self.source(e.passage), "lexical_rank": e.lexical_rank,
             "vector_rank": e.vector_rank, "fused_rank": e.fused_rank,
             "headings": list(e.passage.headings), "score": round(e.passage.score, 6),
             "used": index in retrieval.used, "excerpt": " ".join(e.passage.text.split())[:200]}
            for index, e in enumerate(explained)]}

    def _without(self, room: str, collection: str, reason: str) -> Retrieval:
        self.metrics.retrieval_failures.inc()
        self.emit("notice", {"text": f"Could not search collection `{collection}` "
                             f"({reason.rstrip('.')}). This answer does not use your "
                             "documents.", "level": "warning"}, room)
        return Retrieval()

    def source(self, passage: Passage) -> dict[str, Any]:
        """{"title", "url", "page"?, "score"}: an uploaded file links to where we serve it,
        a PDF at its page; a file ingested from the server's disk keeps its path."""
        url = passage.source
        path = Path(passage.source)
        if path.is_absolute() and path.parent.parent == self.library.uploads_dir:
            url = f"/files/{path.parent.name}"
        if passage.page and (url.startswith("/files/") or url.lower().endswith(".pdf")):
            url += f"#page={passage.page}"
        out: dict[str, Any] = {"title": passage.title, "url": url,
                               "score": round(passage.score, 4)}
        if passage.page:
            out["page"] = passage.page
        return out

    # A whole document or collection ---------------------------------------------------

    def _whole(self, room: str, once: OneOff, budget: Budget, viewer: Viewer,
               completion: bool) -> Retrieval:
        """A summary or a comparison, made piece by piece (whole.py), as the whole answer."""
        started = time.perf_counter()
        targets = [Target(collection, title, source) for collection, source, title in once.targets]
        # Checked now, as retrieval is: a collection may have been unshared since.
        if not targets or any(self.library.find(t.collection, viewer) is None for t in targets):
            return Retrieval(answer="That document is no longer among yours.")

        def progress(part: int, parts: int) -> None:
            self.emit("status", {"state": "retrieving", "summarizing": {
                "part": part, "parts": parts, "title": targets[0].title}}, room)

        if once.task == "inventory":
            try:
                documents = self.library.rag.documents(targets[0].collection)
            except RagError as exc:
                return Retrieval(answer=f"Could not list the documents: {exc}")
            return Retrieval(answer=inventory(targets[0].collection, documents, display_name))
        try:
            if once.task == "compare" and len(targets) == 2:
                sum_a, sum_b, compared = self.whole.compare(*targets, budget.model, completion,
                                                            progress)
                answer = (f"**{targets[0].title}**\n\n{sum_a}\n\n**{targets[1].title}**\n\n"
                          f"{sum_b}" + (f"\n\n{compared}" if compared else ""))
            else:
                text = self.whole.summary(targets[0], budget.model, completion, progress)
                answer = f"**{targets[0].title}**\n\n{text}"
        except LLMError as exc:
            return Retrieval(answer=f"Could not read “{targets[0].title}” whole: {exc}")
        except RagError:  # its message may name the server's paths
            log.exception("reading %s whole", targets[0].title)
            return Retrieval(answer=f"Could not read “{targets[0].title}” whole: it is no "
                             "longer in its collection, or the collection cannot be read.")
        sources = [{"title": t.title, "url": self.source(Passage("", t.source, t.title, None,
                                                                  1.0))["url"], "score": 1.0}
                   for t in targets if t.source is not None]
        return Retrieval(answer=answer, sources=sources,
                         retrieving_s=time.perf_counter() - started)

    # A web page to summarize ----------------------------------------------------------

    def _page(self, room: str, url: str, budget: Budget) -> Retrieval:
        self.emit("status", {"state": "retrieving", "url": url}, room)
        document = self.library.fetch_page(url)
        if isinstance(document, Failure):
            self.emit("notice", {"text": f"Could not read {url}: {document.reason}.",
                                 "level": "warning"}, room)
            return Retrieval()
        room_tokens = budget.context_room(self.settings.rag_context_share)
        kept: list[str] = []
        used = budget.count(f"{PAGE_INSTRUCTIONS}\n\n<source>\n# {document.title}\n</source>")
        for section in document.sections:
            cost = budget.count(section.text) + 2
            if used + cost > room_tokens:
                break
            used += cost
            kept.append(section.text)
        if not kept:
            self.emit("notice", {"text": f"{url} has no text that fits the model's context.",
                                 "level": "warning"}, room)
            return Retrieval()
        context = (f"{PAGE_INSTRUCTIONS}\n\n<source>\n# {quoted(document.title)}\n\n"
                   + "\n\n".join(quoted(text) for text in kept) + "\n</source>")
        return Retrieval(context, sources=[{"title": document.title, "url": document.source,
                                            "score": 1.0}])
