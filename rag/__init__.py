"""rag: ingest URLs, sites, PDFs and files into Chroma; retrieve passages by hybrid search.

The public interface is what this package exports (`__all__`; `Rag` itself is in rag.api);
the chat app uses only that.
One `Rag` per process; it is safe to share between threads for reads, and ingests should run
one at a time per collection:

    from rag import Rag, SUPPORTED_EXTENSIONS
    rag = Rag()                                   # settings from the environment
    summary = rag.ingest(["https://…", "/path/doc.pdf"], "default",
                         allow_private=False, progress=callback)
    passages = rag.retrieve("question", "default", k=5)
    rag.ingest(["/path/handbook.pdf"], "handbook", owner="alice")  # alice's, private
    rag.set_access("handbook", shared=True)       # readable by everyone
    info = rag.collection("handbook")             # CollectionInfo: counts, owner, shared
    docs = rag.documents("handbook")              # [DocumentInfo]: source, kind, chunks, added
    rag.remove_document("handbook", "/path/handbook.pdf")  # its chunks, both indexes
    summary = rag.refetch("default", "https://…")  # a URL again; re-embedded only if changed
    explained = rag.explain("question", "default")  # [Explained]: passages with both ranks
    evidence = rag.weigh("question", passages)    # [Evidence]: sentences scored (rag.evidence)
    before, after = rag.neighbours("default", passages[0])  # the text around a passage
    rag.unknown_words("default", "how do I set up tmux?")  # ["tmux"]: never in the documents
    rag.check_url(url, allow_private=False)       # FetchError: why it would be refused
    page = rag.fetch_page(url, allow_private=False)  # Document, or Failure with a reason
    rag.ingest(paths, "bob-docs", owner="bob", may_write=lambda owner: owner == "bob",
               cancel=event)                  # RagError if not his; Cancelled once `event` set
    rag.held(paths)                           # those some collection still has a document of

`allow_private=False` is for URLs from untrusted users: with it, no fetch (nor any redirect
it follows) reaches loopback, private or link-local addresses except those named in
`url_allowlist`, checked as each connection is opened (see rag.loaders.guard).

Ownership lives in each collection's Chroma metadata, so every process sharing the store sees
the same: `owner` (a user name; none means the operator's) and `shared` (readable by
everyone). This package records and reports them; deciding who may read what is the caller's.
"""

from __future__ import annotations

from rag.api import DEFAULT_COLLECTION, Rag
from rag.documents import Document, Failure, Passage, Progress, Section, Skipped, Summary
from rag.errors import Cancelled, FetchError, NoCollection, RagError
from rag.evidence import Evidence, Sentence, support
from rag.retrieval import Explained
from rag.settings import RagSettings
from rag.store import CollectionInfo, DocumentInfo, FailedSource
from rag.watch import FolderWatch
from rag.watch import Round as WatchRound
from rag.watch import describe as describe_watch


def __getattr__(name: str) -> object:
    # The loaders (HTML, PDF, web parsing) load only when asked for: a query never needs
    # them, and importing them is a third of a `rag query`'s start-up.
    if name == "SUPPORTED_EXTENSIONS":
        from rag.loaders.files import LOADERS

        # File name extensions (lower case, with the dot) that ingesting a file or folder
        # reads.
        globals()[name] = frozenset(LOADERS)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_COLLECTION", "SUPPORTED_EXTENSIONS", "Cancelled", "CollectionInfo", "Document",
    "DocumentInfo", "Evidence", "Explained", "FailedSource", "Failure", "FetchError",
    "FolderWatch", "NoCollection", "Passage", "Progress", "Rag", "RagError", "RagSettings",
    "Section", "Sentence", "Skipped", "Summary", "WatchRound", "describe_watch", "support",
]
