"""`rag` command line: ingest, query, collections, documents, remove, refetch, access,
delete (and watch, in cli_watch.py).

One file for the eight commands: each is its parser lines and a short function printing what
the `Rag` object returns (docs/rag.md shows every output), so the help and the printing of
all of them read together. What an ingest prints as it goes and at the end is
rag/report.py's."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

from rag import (
    DEFAULT_COLLECTION,
    CollectionInfo,
    DocumentInfo,
    Explained,
    Rag,
    RagError,
    cli_watch,
)
from rag.report import ProgressDisplay, exit_status, print_summary


def _access_words(info: CollectionInfo) -> str:
    owner = f"owner {info.owner}" if info.owner is not None else "no owner (admins)"
    return f"{owner}, {'shared with everyone' if info.shared else 'private'}"


def _ingest(rag: Rag, args: argparse.Namespace) -> int:
    display = ProgressDisplay()
    try:
        summary = rag.ingest(
            args.sources, args.collection, crawl_depth=args.crawl, max_pages=args.max_pages,
            progress=display, owner=args.owner, shared=args.shared,
            # The operator's own run: as long as it takes, Ctrl-C stops it.
            job_deadline=None,
        )
    finally:
        display.close()
    if args.owner is not None or args.shared:
        # Asked afterwards: a collection this call created has exactly what was asked for.
        info = rag.collection(args.collection)
        if (args.owner is not None and info.owner != args.owner) or (
                args.shared and not info.shared):
            print(f"rag: note: collection {info.name!r} already exists "
                  f"({_access_words(info)}); its access was left unchanged, `rag access` "
                  "changes it.", file=sys.stderr)
    print_summary(summary)
    return exit_status(summary)


def _query(rag: Rag, args: argparse.Namespace) -> int:
    explained: list[Explained] = []
    if args.explain:
        explained = rag.explain(args.text, args.collection, args.k, args.mode)
        passages = [e.passage for e in explained]
    else:
        passages = rag.retrieve(args.text, args.collection, args.k, args.mode)
    if args.json:
        found = explained or passages
        print(json.dumps([p.to_json() for p in found], ensure_ascii=False, indent=2))
        return 0
    if not passages:
        print("No passages found.")
    score = "fused score" if args.mode == "hybrid" else f"{args.mode} score"
    for rank, p in enumerate(passages, start=1):
        where = p.source + (f" (page {p.page})" if p.page is not None else "")
        print(f"{rank}. [{p.score:.4f}] {p.title}\n   {where}")
        if explained:
            e = explained[rank - 1]
            moved = (f" (fused rank {e.fused_rank}, moved up by one passage per page)"
                     if e.fused_rank not in (None, rank) else "")
            print(f"   lexical rank {_rank(e.lexical_rank)}, vector rank "
                  f"{_rank(e.vector_rank)}, {score} {p.score:.4f}{moved}")
            if p.headings:
                print(f"   under: {' > '.join(p.headings)}")
        print("   " + " ".join(p.text.split())[:300])
    return 0


def _rank(rank: int | None) -> str:
    return "-" if rank is None else str(rank)


def _documents(rag: Rag, args: argparse.Namespace) -> int:
    documents = rag.documents(args.collection)
    if args.json:
        print(json.dumps([_document_json(d) for d in documents], ensure_ascii=False,
                         indent=2))
        return 0
    failed = rag.failed_sources(args.collection)
    if not documents:
        print(f"No documents in collection {args.collection!r}.")
    else:
        print(f"{'kind':<8} {'chunks':>6}  {'changed (UTC)':<16}  {'checked (UTC)':<16}  "
              "source (title)")
        for d in documents:
            ocr = f" [OCR: {_pages(d.ocr_pages)}]" if d.ocr_pages else ""
            print(f"{d.kind:<8} {d.chunks:>6}  {_minute(d.added):<16}  {_minute(d.checked):<16}"
                  f"  {d.source} ({d.title}){ocr}")
            if d.problem:
                print(f"{'':<52}  ! {d.problem}")
        chunks = sum(d.chunks for d in documents)
        print(f"{len(documents)} document{'' if len(documents) == 1 else 's'}, {chunks} "
              f"chunks in collection {args.collection!r}.")
    if failed:
        print("Failed, never stored:")
        for f in failed:
            print(f"  {_minute(f.checked)}  {f.source}: {f.reason}")
    return 0


def _minute(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _pages(pages: Sequence[int]) -> str:
    return f"page{'s' if len(pages) > 1 else ''} {', '.join(map(str, pages))}"


def _document_json(d: DocumentInfo) -> dict:
    return {"source": d.source, "title": d.title, "kind": d.kind, "chunks": d.chunks,
            "added": d.added, "ocr_pages": list(d.ocr_pages), "first_added": d.first_added,
            "checked": d.checked, "problem": d.problem}


def _stored_source(rag: Rag, collection: str, source: str) -> str:
    """SOURCE as stored: files are stored by absolute path, so a relative one is resolved
    when the collection has no source spelled as given."""
    if urlsplit(source).scheme in ("http", "https"):
        return source
    known = {d.source for d in rag.documents(collection)}
    resolved = str(Path(source).expanduser().resolve())
    return resolved if source not in known and resolved in known else source


def _remove(rag: Rag, args: argparse.Namespace) -> int:
    source = _stored_source(rag, args.collection, args.source)
    removed = rag.remove_document(args.collection, source)
    print(f"Removed {source} ({removed} chunks) from collection {args.collection!r}.")
    return 0


def _refetch(rag: Rag, args: argparse.Namespace) -> int:
    display = ProgressDisplay()
    try:
        summary = rag.refetch(args.collection, args.url, progress=display)
    finally:
        display.close()
    print_summary(summary)
    return exit_status(summary)


def _collections(rag: Rag, args: argparse.Namespace) -> int:
    infos = rag.collections()
    if not infos:
        print("No collections yet; `rag ingest SOURCE` creates one.")
        return 0
    print(f"{'collection':<24} {'documents':>9} {'chunks':>8}  {'model':<20} {'owner':<16} "
          "shared")
    for info in infos:
        owner = info.owner if info.owner is not None else "-"
        print(f"{info.name:<24} {info.documents:>9} {info.chunks:>8}  {info.model:<20} "
              f"{owner:<16} {'yes' if info.shared else 'no'}")
    return 0


def _access(rag: Rag, args: argparse.Namespace) -> int:
    if args.owner is ... and args.shared is None:
        info = rag.collection(args.name)
    else:
        info = rag.set_access(args.name, owner=args.owner, shared=args.shared)
    print(f"Collection {info.name!r}: {_access_words(info)}.")
    return 0


def _delete(rag: Rag, args: argparse.Namespace) -> int:
    rag.delete(args.name)
    print(f"Deleted collection {args.name!r}.")
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="rag",
        description="Ingest URLs, sites, PDFs, office documents, spreadsheets, e-books "
        "and text files into Chroma; query them. "
        "Configuration comes from the environment (DATA_DIR, CHROMA_URL, EMBED_MODEL, ...).",
    )
    commands = top.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="add or refresh sources in a collection")
    ingest.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="URL, file (PDF, HTML, Markdown, text, DOCX, ODT, PPTX, XLSX, CSV, "
                        "EPUB) or a folder of them")
    ingest.add_argument("--collection", default=DEFAULT_COLLECTION, metavar="NAME",
                        help="3-512 characters of [a-zA-Z0-9._-] (default: default)")
    ingest.add_argument("--crawl", type=_positive, metavar="DEPTH",
                        help="follow same-host links from each URL this many levels deep")
    ingest.add_argument("--max-pages", type=_positive, default=50, metavar="N",
                        help="stop a crawl after N pages (default: 50)")
    ingest.add_argument("--owner", metavar="USER",
                        help="a new collection belongs to USER (default: no owner, admins only)")
    ingest.add_argument("--shared", action="store_true",
                        help="a new collection is readable by every user")
    ingest.set_defaults(run=_ingest)

    query = commands.add_parser("query", help="the passages that best answer TEXT")
    query.add_argument("text", metavar="TEXT")
    query.add_argument("--collection", default=DEFAULT_COLLECTION, metavar="NAME",
                       help="collection to search (default: default)")
    query.add_argument("-k", type=_positive, default=5, help="passages to return (default: 5)")
    query.add_argument("--json", action="store_true",
                       help='print [{"text", "source", "title", "page", "score"}] best first')
    query.add_argument("--mode", choices=["hybrid", "vector", "lexical"], default="hybrid",
                       help="ranking (default: hybrid = BM25 and vectors, rank-fused)")
    query.add_argument("--explain", action="store_true",
                       help="show each passage's lexical and vector rank and its fused score "
                       '(with --json: "lexical_rank", "vector_rank", null when not found)')
    query.set_defaults(run=_query)

    listing = commands.add_parser("collections",
                                  help="list collections with their counts and access")
    listing.set_defaults(run=_collections)

    documents = commands.add_parser("documents", help="list a collection's documents")
    documents.add_argument("--collection", default=DEFAULT_COLLECTION, metavar="NAME",
                           help="collection to list (default: default)")
    documents.add_argument("--json", action="store_true",
                           help='print [{"source", "title", "kind", "chunks", "added", '
                           '"ocr_pages"}]')
    documents.set_defaults(run=_documents)

    remove = commands.add_parser("remove", help="remove one document from a collection")
    remove.add_argument("source", metavar="SOURCE",
                        help="the URL or file path, as `rag documents` lists it")
    remove.add_argument("--collection", default=DEFAULT_COLLECTION, metavar="NAME",
                        help="collection to remove it from (default: default)")
    remove.set_defaults(run=_remove)

    refetch = commands.add_parser(
        "refetch", help="fetch a URL document again; re-embedded only if it changed")
    refetch.add_argument("url", metavar="URL", help="a URL source, as `rag documents` lists it")
    refetch.add_argument("--collection", default=DEFAULT_COLLECTION, metavar="NAME",
                         help="collection holding it (default: default)")
    refetch.set_defaults(run=_refetch)

    access = commands.add_parser(
        "access", help="show or change who may read a collection",
        description="With no option, print the collection's owner and whether it is shared. "
        "A collection is private to its owner unless shared; one with no owner is for admins.")
    access.add_argument("name", metavar="NAME")
    who = access.add_mutually_exclusive_group()
    who.add_argument("--owner", metavar="USER", default=...,
                     help="give the collection to USER")
    who.add_argument("--no-owner", dest="owner", action="store_const", const=None,
                     help="take the owner away: admins only")
    scope = access.add_mutually_exclusive_group()
    scope.add_argument("--shared", dest="shared", action="store_const", const=True,
                       help="readable by every user")
    scope.add_argument("--private", dest="shared", action="store_const", const=False,
                       help="readable by its owner only")
    access.set_defaults(run=_access)

    delete = commands.add_parser("delete", help="delete a collection and its index")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(run=_delete)
    cli_watch.add_parser(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        rag = Rag()
    except ValidationError as e:
        print(f"rag: error: bad configuration in the environment:\n{e}", file=sys.stderr)
        return 2
    try:
        return args.run(rag, args)
    except RagError as e:
        print(f"rag: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rag: interrupted; sources not finished were left as they were, "
              "run the same command again to complete.", file=sys.stderr)
        return 130
