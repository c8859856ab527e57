"""Commands about whole documents: `/summarize URL|NAME`, `/compare A and B`, `/documents
[COLLECTION]`, and the same asked in words (intents.py): "summarize the lease", "what's in
my documents?".

A NAME is looked for among the documents of the collections the user may read, the
conversation's collection first: a document's file name (with or without its extension),
its title, or a collection's name; "this collection", "my documents" or nothing at all mean
the conversation's collection. A name that matches nothing leaves a worded request to the
model as an ordinary question, and makes a command say what it could not find.
"""

from __future__ import annotations

from chatbot.chat.command_types import Command, Context, Reply
from chatbot.chat.grounding import OneOff, bare_url
from chatbot.chat.intents import Intent, normalised
from chatbot.chat.whole import inventory
from chatbot.documents.library import display_name
from rag import RagError

# What a user calls the conversation's collection as a whole.
WHOLE_COLLECTION = frozenset({"", "collection", "documents", "docs", "files", "everything",
                              "everything in documents", "all documents", "library", "all",
                              "knowledge base", "uploads", "sources", "all files"})

Target = tuple[str, str | None, str]  # (collection, source or None: all of it, title)


def _current(ctx: Context) -> str:
    return ctx.chat.rag_collection or ctx.viewer.default_collection(
        ctx.settings.rag_collection)


def resolve(name: str, ctx: Context) -> Target | None:
    """The document or collection `name` means, among those the user may read."""
    assert ctx.library is not None
    wanted = normalised(name)
    current = _current(ctx)
    readable = [c["name"] for c in ctx.library.collections(ctx.viewer)]
    if wanted in WHOLE_COLLECTION and current in readable:
        return current, None, current
    for collection in readable:
        if normalised(collection) == wanted:
            return collection, None, collection
    if len(wanted) < 2:
        return None
    ordered = sorted(readable, key=lambda c: c != current)
    near: Target | None = None
    for collection in ordered:
        for document in ctx.library.rag.documents(collection):
            names = {normalised(display_name(document.source)), normalised(document.title)}
            title = document.title or display_name(document.source)
            if wanted in names:
                return collection, document.source, title
            if near is None and len(wanted) >= 3 and any(
                    wanted in n or (len(n) >= 3 and n in wanted) for n in names if n):
                near = collection, document.source, title
    return near


def _summarize(args: str, ctx: Context) -> Reply:
    url = bare_url(args)
    if url is not None:
        return Reply(f"Reading {url}…", ask=f"Summarize {url}", once=OneOff(url=url))
    if ctx.library is None:
        return Reply("Give one http(s) URL: `/summarize https://example.org/page` (documents "
                     "are not available in this chat).")
    return _whole("summary", [args.strip()], f"Summarize {args.strip() or 'the documents'}",
                  ctx) or Reply(f"No document or collection called “{args.strip()}” among "
                                "yours: `/documents` lists them.")


def _compare(args: str, ctx: Context) -> Reply:
    names = [part.strip() for part in args.replace(" | ", " and ").split(" and ", 1)]
    if len(names) != 2 or not all(names) or ctx.library is None:
        return Reply("Name two documents: `/compare report-2023.pdf and report-2024.pdf`.")
    return _whole("compare", names, f"Compare {names[0]} and {names[1]}", ctx) or Reply(
        f"Could not find both “{names[0]}” and “{names[1]}” among your documents: "
        "`/documents` lists them.")


def _documents(args: str, ctx: Context) -> Reply:
    if ctx.library is None:
        return Reply("Documents are not available in this chat.")
    try:
        found = resolve(args.strip(), ctx)
        if found is None or found[1] is not None:
            return Reply(f"No collection called “{args.strip()}” among yours.")
        documents = ctx.library.rag.documents(found[0])
    except RagError as exc:
        return Reply(f"Could not list the documents: {exc}")
    return Reply(inventory(found[0], documents, display_name))


def _whole(task: str, names: list[str], ask: str, ctx: Context) -> Reply | None:
    try:
        targets = [resolve(name, ctx) for name in names]
    except RagError as exc:
        return Reply(f"Could not look through the documents: {exc}")
    if any(t is None for t in targets):
        return None
    found = tuple(t for t in targets if t is not None)
    titles = " and ".join(f"“{t[2]}”" for t in found)
    return Reply(f"Reading {titles} whole…", ask=ask, once=OneOff(task=task, targets=found))


def route(intent: Intent, text: str, ctx: Context) -> Reply | None:
    """The reply to a worded whole-document request, or None when what it names is not
    among the user's documents (then it is an ordinary question)."""
    if ctx.library is None:
        return None
    if intent.kind == "inventory":
        try:
            target = resolve(intent.targets[0] if intent.targets else "", ctx)
        except RagError:
            return None
        if target is None or target[1] is not None:
            return None
        return Reply("", ask=text, once=OneOff(task="inventory", targets=(target,)))
    reply = _whole(intent.kind, list(intent.targets) or [""], text, ctx)
    return reply if reply is not None and reply.once is not None else None


COMMANDS: dict[str, Command] = {
    "summarize": Command(_summarize, "/summarize URL|NAME",
                         "summarize a web page, or one of your documents or collections read "
                         "whole"),
    "compare": Command(_compare, "/compare A and B", "compare two of your documents"),
    "documents": Command(_documents, "/documents [COLLECTION]",
                         "what a collection holds: titles, kinds, pages, dates"),
}
