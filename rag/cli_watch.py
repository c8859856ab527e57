"""`rag watch DIR --collection NAME`: keep a collection in step with a folder until Ctrl-C
(rag/watch.py does the work; this prints it)."""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from rag import DEFAULT_COLLECTION, Rag
from rag.watch import FolderWatch, Round, describe


def _interval(value: str) -> float:
    seconds = float(value)
    if not 1 <= seconds <= 86400:
        raise argparse.ArgumentTypeError("between 1 and 86400 seconds")
    return seconds


def add_parser(commands: argparse._SubParsersAction) -> None:
    watch = commands.add_parser(
        "watch", help="keep a collection in step with a folder until Ctrl-C",
        description="Ingest the folder, then every few seconds re-ingest a changed file, "
        "add a new one and remove a deleted one. Files changed or deleted while nothing "
        "watched are caught up at the start.")
    watch.add_argument("folder", type=Path, metavar="DIR")
    watch.add_argument("--collection", default=DEFAULT_COLLECTION, metavar="NAME",
                       help="3-512 characters of [a-zA-Z0-9._-] (default: default)")
    watch.add_argument("--interval", type=_interval, default=5.0, metavar="SECONDS",
                       help="how often the folder is looked at (default: 5)")
    watch.add_argument("--owner", metavar="USER",
                       help="a new collection belongs to USER (default: no owner, admins only)")
    watch.add_argument("--shared", action="store_true",
                       help="a new collection is readable by every user")
    watch.set_defaults(run=_watch)


def _watch(rag: Rag, args: argparse.Namespace) -> int:
    from rag.report import print_summary

    watch = FolderWatch(rag, args.folder, args.collection, owner=args.owner,
                        shared=args.shared)
    first = watch.check()  # a folder that is not there is an error now, not a warning later
    print(f"Watching {watch.folder} for collection {args.collection!r} "
          f"(every {args.interval:g} s; Ctrl-C stops).", flush=True)
    print_summary(first.summary)
    for line in describe(Round(removed=first.removed)):
        print(line, flush=True)

    def report(done: Round) -> None:
        stamp = time.strftime("%H:%M:%S")
        for line in describe(done):
            print(f"{stamp} {line}", flush=True)

    stop = threading.Event()
    try:
        stop.wait(args.interval)
        watch.run(stop, args.interval, report)
    except KeyboardInterrupt:
        print("Stopped watching.")
    return 0
