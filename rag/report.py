"""What `rag ingest` and `rag refetch` print: progress as they go (bars on a terminal, a
line per document otherwise), then the summary, whose every skipped file and failed source
is named with its reason, and the exit status that goes with it."""

from __future__ import annotations

import sys

from rag.documents import Progress, Skipped, Summary


class ProgressDisplay:
    """tqdm bars (documents, chunks) on a terminal; one quiet line per document otherwise."""

    def __init__(self, stream=sys.stderr) -> None:  # noqa: ANN001 - a text stream
        self.stream = stream
        self.bars = None
        if stream.isatty():
            from tqdm import tqdm

            self.bars = (
                tqdm(desc="documents", unit="doc", position=0, file=stream),
                tqdm(desc="chunks", unit="chunk", position=1, file=stream),
            )

    def __call__(self, p: Progress) -> None:
        if self.bars:
            docs, chunks = self.bars
            docs.n, chunks.n = p.documents_done, p.chunks_done
            docs.set_postfix_str(p.source[-50:], refresh=False)
            docs.refresh()
            chunks.refresh()
        elif p.event == "document":
            detail = f": {p.detail}" if p.detail else ""
            print(f"{p.status:<9} {p.source}{detail}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bars:
            for bar in self.bars:
                bar.close()


def print_summary(summary: Summary) -> None:
    print(
        f"{len(summary.added)} added, {len(summary.replaced)} replaced, "
        f"{len(summary.unchanged)} unchanged, {len(summary.failed)} failed; "
        f"{summary.chunks} chunks embedded."
    )
    # Here, not at the top: the loaders (HTML, PDF, office parsers) slow `rag query`'s start.
    from rag.loaders.files import LOADERS, UNSUPPORTED

    files = [f for f in summary.skipped if isinstance(f, Skipped)]
    pages = [f for f in summary.skipped if not isinstance(f, Skipped)]
    if pages:
        print(f"{len(pages)} pages skipped (robots.txt or --max-pages).")
        # The rarer reasons (a capped Crawl-delay, a deadline) are worth reading.
        for note in {f.reason for f in pages if f.reason.endswith(")") and "RAG_" in f.reason}:
            print(f"  {note}")
    if files:
        print("Skipped (not read):")
        for skipped in files:
            print(f"  {skipped.source}: {skipped.reason}")
        if any(f.reason.startswith(UNSUPPORTED) for f in files):
            print(f"  (the kinds read: {' '.join(sorted(LOADERS))})")
    if summary.failed:
        print("Failed:")
        for failure in summary.failed:
            print(f"  {failure.source}: {failure.reason}")
    if not summary.stored:
        print("Nothing was added: no source gave a document (the reasons are above).")


def exit_status(summary: Summary) -> int:
    """0 when every source was read (files skipped for their kind or size are named, not
    errors) and something is in the collection; 1 when a source failed or nothing was
    added at all; 2 (main) for a usage or configuration error."""
    return 0 if summary.ok and summary.stored else 1
