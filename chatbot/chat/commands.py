"""Slash commands typed in the chat box: `/help`, `/reset`, `/version`, `/model`, `/set`, `/rag`
(and those about whole documents, in document_commands.py: `/summarize`, `/compare`,
`/documents`).

A command returns a Markdown reply shown to the user and, when it changes something, the
change for the socket layer to apply (new conversation, new settings, or a question to answer
now, for `/rag QUESTION` and `/summarize`), so this module knows nothing about sockets.
"""

from __future__ import annotations

from pydantic import ValidationError

from chatbot.accounts.viewer import Viewer
from chatbot.chat import document_commands
from chatbot.chat.command_types import Command, Context, Reply
from chatbot.chat.grounding import OneOff
from chatbot.common import app_version
from chatbot.documents.library import Library
from chatbot.errors import LLMError
from chatbot.settings import ChatSettings
from rag import RagError

SETTING_ALIASES = {"system": "system_prompt", "temp": "temperature",
                   "max": "max_tokens", "max_tokens": "max_tokens"}


def _help(_: str, __: Context) -> Reply:
    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| `{c.usage}` | {c.summary} |" for c in COMMANDS.values()]
    return Reply("\n".join(lines) + "\n\n**Enter** sends, **Shift+Enter** starts a new line.")


def _reset(_: str, __: Context) -> Reply:
    return Reply("Started a new conversation.", reset=True)


def _version(_: str, ctx: Context) -> Reply:
    health = ctx.llm.health()
    model = ctx.chat.model or health.get("model") or ctx.settings.llm_model or "server default"
    server = "reachable" if health else "not reachable or without /health"
    # The server's address is the operator's business: with accounts on, only admins see it.
    where = (f" at `{ctx.settings.llm_base_url}`"
             if ctx.viewer.name is None or ctx.viewer.admin else "")
    return Reply(f"localchat **{app_version()}**  \n"
                 f"Model: `{model}`{where} ({server})  \n"
                 f"Context: {ctx.llm.n_ctx()} tokens")


def _model(args: str, ctx: Context) -> Reply:
    try:
        offered = ctx.llm.descriptions()
    except LLMError as exc:
        return Reply(str(exc))
    current = ctx.chat.model or _default_or_none(ctx)
    wanted = args.strip()
    if not wanted:
        listing = "\n".join(f"- `{m}`" + (" (current)" if m == current else "")
                            + (f": {' '.join(about.split())}" if about else "")
                            for m, about in offered.items())
        return Reply(f"Models offered by the server:\n\n{listing}\n\nSwitch with `/model NAME`.")
    if wanted not in offered:
        return Reply(f"No model `{wanted}` on the server. Offered: "
                     + ", ".join(f"`{m}`" for m in offered))
    return Reply(f"This conversation now uses `{wanted}`.",
                 settings=ctx.chat.model_copy(update={"model": wanted}))


def _default_or_none(ctx: Context) -> str | None:
    try:
        return ctx.llm.default_model()
    except LLMError:
        return None


def _set(args: str, ctx: Context) -> Reply:
    key, _, value = args.strip().partition(" ")
    key = SETTING_ALIASES.get(key, key)
    if not key:
        return Reply(show_settings(ctx.chat))
    if key == "reset":
        return Reply("Settings reset to the defaults.",
                     settings=ChatSettings.defaults(ctx.settings))
    if key not in ChatSettings.model_fields or key == "model":
        return Reply(f"Unknown setting `{key}`. Settings: system, temperature, top_p, "
                     "max_tokens (use `/model` for the model).")
    try:
        changed = ctx.chat.model_copy()
        setattr(changed, key, value.strip())
    except ValidationError as exc:
        return Reply(f"Could not set `{key}`: {exc.errors()[0]['msg']}.")
    return Reply(f"Set `{key}`.\n\n" + show_settings(changed), settings=changed)


def show_settings(chat: ChatSettings) -> str:
    system = chat.system_prompt.replace("\n", " ") or "(none: the model's default)"
    return ("| setting | value |\n|---|---|\n"
            f"| system | {system} |\n| temperature | {chat.temperature} |\n"
            f"| top_p | {chat.top_p} |\n| max_tokens | {chat.max_tokens} |\n"
            f"| model | {chat.model or '(server default)'} |\n\n"
            "Change with `/set NAME VALUE`, e.g. `/set temperature 0.2`; `/set reset` "
            "restores the defaults.")


RAG_USAGE = ("`/rag on [COLLECTION] [K]` answers every question from a collection, `/rag off` "
             "stops, `/rag list` shows the collections, `/rag QUESTION` answers one question "
             "from them. Add documents with the Documents button (top right).")


def _rag(args: str, ctx: Context) -> Reply:
    library = ctx.library
    if library is None:
        return Reply("Document retrieval is not available in this chat.")
    words = args.split()
    head = words[0].lower() if words else ""
    chat = ctx.chat
    if not words:
        state = (f"on, collection `{_collection(ctx)}`, {chat.rag_k or ctx.settings.rag_k} "
                 "passages per question" if chat.rag else "off")
        return Reply(f"RAG is {state}.\n\n{RAG_USAGE}")
    if head == "off" and len(words) == 1:
        return Reply("RAG is off: answers no longer use your documents.",
                     settings=chat.model_copy(update={"rag": False}))
    if head == "list" and len(words) == 1:
        return Reply(_listing(library, ctx.viewer, _collection(ctx)))
    if head == "on" and len(words) <= 3 and (len(words) < 3 or words[2].isdigit()):
        return _rag_on(ctx, library, words[1] if len(words) > 1 else None,
                       int(words[2]) if len(words) > 2 else None)
    library.warm_up()
    return Reply(f"Answering from collection `{_collection(ctx)}`.", ask=args.strip(),
                 once=OneOff(collection=_collection(ctx)))


def _collection(ctx: Context) -> str:
    return ctx.chat.rag_collection or ctx.viewer.default_collection(ctx.settings.rag_collection)


def _rag_on(ctx: Context, library: Library, name: str | None, k: int | None) -> Reply:
    if k is not None and not 1 <= k <= 20:
        return Reply("K is the number of passages per question: 1 to 20.")
    name = name or _collection(ctx)
    warning = ""
    try:
        known = [c["name"] for c in library.collections(ctx.viewer)]
    except RagError as exc:
        warning = f"\n\nCould not check the collections now: {exc}"
    else:
        if name not in known:
            offered = ", ".join(f"`{n}`" for n in known) or "none yet"
            return Reply(f"No collection `{name}`. Collections: {offered}. Add documents "
                         "with the Documents button (top right), then `/rag on NAME`.")
    library.warm_up()
    changed = ctx.chat.model_copy(update={"rag": True, "rag_collection": name,
                                          "rag_k": k or ctx.chat.rag_k})
    k_shown = changed.rag_k or ctx.settings.rag_k
    return Reply(f"RAG is on: each question searches collection `{name}` "
                 f"({k_shown} passages at most) and the answer lists its sources.{warning}",
                 settings=changed)


def _listing(library: Library, viewer: Viewer, current: str) -> str:
    try:
        found = library.collections(viewer)
    except RagError as exc:
        return f"Could not list the collections: {exc}"
    if not found:
        return "No collections yet: add documents with the Documents button (top right)."
    rows = [f"| `{c['name']}`{' (this chat)' if c['name'] == current else ''} | "
            f"{c['documents']} | {c['chunks']} |" for c in found]
    return "| collection | documents | chunks |\n|---|---|---|\n" + "\n".join(rows)


COMMANDS: dict[str, Command] = {
    "help": Command(_help, "/help", "this list"),
    "reset": Command(_reset, "/reset", "start a new conversation (the old one stays in the "
                     "sidebar)"),
    "version": Command(_version, "/version", "versions, model and context size"),
    "model": Command(_model, "/model [NAME]", "list the server's models, or switch this "
                     "conversation to one"),
    "set": Command(_set, "/set [NAME VALUE]", "show or change this conversation's settings: "
                   "system, temperature, top_p, max_tokens"),
    "rag": Command(_rag, "/rag on [COLLECTION] [K] · off · list · QUESTION",
                   "answer from your documents: always, never, which collections, or once"),
    **document_commands.COMMANDS,
}


def run(line: str, ctx: Context) -> Reply:
    """Run one command line (starting with `/`)."""
    name, _, args = line[1:].partition(" ")
    command = COMMANDS.get(name.strip().lower())
    if command is None:
        return Reply(f"Unknown command `/{name}`. Type `/help` for the list.")
    return command.handler(args, ctx)
