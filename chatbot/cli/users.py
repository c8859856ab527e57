"""`chatbot users ...`: the operator's tool for accounts (used with AUTH=on).

Works on the same DATA_DIR as the running chatbot (SQLite is shared safely), so changes take
effect at once: a disabled user's open pages are signed out at their next action.
Passwords are read from the terminal (asked twice) or, when stdin is not a terminal, from
its first line, so that scripts can pipe one in; they never appear in the command line.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from chatbot import datadir
from chatbot.accounts.accounts import Accounts
from chatbot.db.store import Store
from chatbot.documents.library import conversation_of
from chatbot.documents.upload_store import UploadStore
from chatbot.errors import AccountError
from chatbot.settings import Settings, from_environment
from rag import Rag, RagError, RagSettings


def _password(prompt: str) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"{prompt}: ")
    if getpass.getpass("Again: ") != first:
        raise AccountError("The two passwords differ.")
    return first


def _add(accounts: Accounts, args: argparse.Namespace, _: Settings) -> str:
    first_admin = args.admin and not any(u.admin for u in accounts.users())
    user = accounts.add(args.name, _password(f"Password for {args.name}"), admin=args.admin)
    text = f"Added user {user.name}{' (admin)' if user.admin else ''}."
    if first_admin:
        text += (" Conversations and uploads made before accounts existed are now theirs; "
                 "collections without an owner belong to the admins.")
    return text


def _list(accounts: Accounts, _: argparse.Namespace, __: Settings) -> str:
    users = accounts.users()
    if not users:
        return "No users yet: `chatbot users add NAME --admin` creates the first."
    width = max(4, *(len(u.name) for u in users))
    lines = [f"{'name':<{width}}  role   state"]
    lines += [f"{u.name:<{width}}  {'admin' if u.admin else 'user ':<5}  "
              f"{'disabled' if u.disabled else 'active'}" for u in users]
    return "\n".join(lines)


def _passwd(accounts: Accounts, args: argparse.Namespace, _: Settings) -> str:
    user = accounts.set_password(args.name, _password(f"New password for {args.name}"))
    return f"Changed the password of {user.name}; their other sessions are signed out."


def _disable(accounts: Accounts, args: argparse.Namespace, _: Settings) -> str:
    user = accounts.set_disabled(args.name, True)
    return f"Disabled {user.name}: signed out everywhere, and cannot sign in."


def _enable(accounts: Accounts, args: argparse.Namespace, _: Settings) -> str:
    user = accounts.set_disabled(args.name, False)
    return f"Enabled {user.name}."


def _admin(accounts: Accounts, args: argparse.Namespace, _: Settings) -> str:
    user = accounts.set_admin(args.name, not args.revoke)
    return f"{user.name} is {'now an admin' if user.admin else 'no longer an admin'}."


def _remove(accounts: Accounts, args: argparse.Namespace, settings: Settings) -> str:
    accounts.removable(args.name)
    # Their collections go to the admins first: if Chroma cannot be reached, nothing is
    # removed, and no collection is left owned by a name someone could be given later.
    rag = Rag(RagSettings(data_dir=settings.data_dir))
    handed: list[str] = []
    attached: list[str] = []
    for info in rag.collections():
        if info.owner is None or info.owner.lower() != args.name.lower():
            continue
        if conversation_of(info.name) is not None:
            # Files attached in their conversations go with them.
            sources = [d.source for d in rag.documents(info.name)]
            rag.delete(info.name)
            attached.extend(sources)
        else:
            rag.set_access(info.name, owner=None, shared=False)
            handed.append(info.name)
    deleted = accounts.remove(args.name)
    UploadStore.of(settings.data_dir, rag).release(attached)
    text = f"Removed {args.name} and their {deleted} conversation{'' if deleted == 1 else 's'}."
    if handed:
        text += (" Their collections now belong to the admins (private): "
                 + ", ".join(handed) + ".")
    return text


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="chatbot users",
        description="Manage accounts (AUTH=on). Uses DATA_DIR from the environment.")
    commands = top.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create a user (asks for the password)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--admin", action="store_true", help="may share collections and "
                     "owns those without an owner")
    add.set_defaults(run=_add)
    commands.add_parser("list", help="users, role and state").set_defaults(run=_list)
    for name, run, text in (("passwd", _passwd, "set a user's password (asks for it)"),
                            ("disable", _disable, "sign a user out and refuse their sign-in"),
                            ("enable", _enable, "let a disabled user sign in again"),
                            ("remove", _remove, "delete a user and their conversations; "
                             "their collections go to the admins")):
        command = commands.add_parser(name, help=text)
        command.add_argument("name", metavar="NAME")
        command.set_defaults(run=run)
    admin = commands.add_parser("admin", help="make a user an admin (--revoke: no longer)")
    admin.add_argument("name", metavar="NAME")
    admin.add_argument("--revoke", action="store_true")
    admin.set_defaults(run=_admin)
    return top


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    settings = from_environment("chatbot users")
    if settings is None:
        return 2
    datadir.make_private(settings.data_dir)
    store = Store(settings.data_dir / "conversations.sqlite3")
    accounts = Accounts(store, max_failures=settings.auth_max_failures,
                        max_failures_per_address=settings.auth_max_failures_per_address,
                        failure_window_s=settings.auth_failure_window)
    try:
        print(args.run(accounts, args, settings))
    except (AccountError, RagError) as exc:
        print(f"chatbot users: error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0
