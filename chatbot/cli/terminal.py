"""`chatbot chat`: an interactive chat in the terminal, against the same LLM server as the
page, configured from the same environment. The conversation itself is terminal_chat.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from chatbot.accounts.accounts import Accounts
from chatbot.accounts.viewer import Viewer
from chatbot.chat.llm import LLMClient
from chatbot.cli.terminal_chat import OWNER, TerminalChat
from chatbot.db.store import Store
from chatbot.documents.library import Library
from chatbot.errors import LLMError
from chatbot.settings import ChatSettings, Settings

PROMPT = "> "


def run(session: TerminalChat, read: Callable[[str], str] = input) -> int:
    """The prompt loop: until /quit, Ctrl-D, or Ctrl-C at the prompt."""
    while True:
        try:
            line = read(PROMPT)
        except (EOFError, KeyboardInterrupt):
            session.say("")
            return 0
        try:
            if not session.handle(line):
                return 0
        except KeyboardInterrupt:  # a second Ctrl-C while the first was being handled
            session.say("[stopped]")


def _viewer(settings: Settings, user: str | None) -> tuple[Viewer, bool] | str:
    """Who reads the collections, and whether documents are available; or why not."""
    if not settings.auth:
        return Viewer(OWNER), True
    if user is None:
        return Viewer(OWNER), False
    try:
        store = Store(settings.data_dir / "conversations.sqlite3")
    except (sqlite3.Error, OSError) as exc:
        return f"cannot open the accounts in {settings.data_dir}: {exc}"
    try:
        found = Accounts(store, max_failures=settings.auth_max_failures,
                         max_failures_per_address=settings.auth_max_failures_per_address,
                         failure_window_s=settings.auth_failure_window).by_name(user)
    finally:
        store.close()
    if found is None or found.disabled:
        return f"no active user named {user}"
    return Viewer.of(found), True


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot chat",
        description="Chat in the terminal with the LLM server of LLM_BASE_URL (LLM_API_KEY, "
        "LLM_MODEL, CHAT_* and DATA_DIR as for the page). Type /help inside for commands.")
    parser.add_argument("--model", help="model to ask (default: LLM_MODEL, else the "
                        "server's first)")
    parser.add_argument("--system", help="system prompt (default: CHAT_SYSTEM_PROMPT)")
    parser.add_argument("--rag", metavar="COLLECTION",
                        help="answer from this collection of documents, as `/rag COLLECTION`")
    parser.add_argument("--user", metavar="NAME", help="with AUTH=on: read collections as "
                        "this user sees them (without it, /rag is off)")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
        chat = ChatSettings.defaults(settings)
        if args.model:
            chat.model = args.model
        if args.system is not None:
            chat.system_prompt = args.system
    except ValidationError as exc:
        print(f"chatbot chat: invalid setting: {exc}", file=sys.stderr)
        return 2
    _quiet_logs()
    who = _viewer(settings, args.user)
    if isinstance(who, str):
        print(f"chatbot chat: {who}", file=sys.stderr)
        return 2
    viewer, documents = who
    _line_editing()
    llm = LLMClient(settings)
    library = Library.open(settings)
    session = TerminalChat(settings, llm, library, viewer, documents, chat, sys.stdout)
    try:
        session.say(_banner(llm, chat))
        if args.rag:
            session.command(f"/rag on {args.rag}")
        return run(session)
    except KeyboardInterrupt:
        return 0
    finally:
        session.close()
        llm.close()


def _banner(llm: LLMClient, chat: ChatSettings) -> str:
    where = llm.settings.llm_base_url
    try:
        model = chat.model or llm.default_model()
    except LLMError as exc:
        return f"chatbot chat: {exc}\nType /help for commands, Ctrl-D to leave."
    return (f"chatbot chat: {model} at {where}, {llm.n_ctx()} tokens of context.\n"
            "Type /help for commands, Ctrl-D to leave; Ctrl-C stops an answer.")


def _line_editing() -> None:
    """Arrow keys and history at the prompt, where the platform has readline."""
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - importing it is what makes input() use it


class _OneLine(logging.Formatter):
    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's naming
        return ""  # the user is told what failed; the traceback would only bury the prompt


def _quiet_logs() -> None:
    """Warnings as single lines on stderr; the page's INFO lines are not for a terminal."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("chatbot: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
