"""`llmserver pull`: the command line around the download (`download.py`), and its
`--list` of curated models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from huggingface_hub.utils import logging as hub_logging

from llmserver.pull.download import pull
from llmserver.pull.sources import PullError, listing, resolve
from llmserver.settings import Settings


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="llmserver pull",
        description="Download a GGUF from Hugging Face into MODELS_DIR, resuming an "
        "interrupted download and checking its sha256 against the hub's.",
    )
    parser.add_argument("model", nargs="?",
                        help="OWNER/REPO/FILE.gguf, or a name from --list")
    parser.add_argument("--list", action="store_true", help="show the curated models")
    parser.add_argument("--as", dest="alias",
                        help="alias to save it under (default: the curated name, or the "
                        "file name without .gguf)")
    parser.add_argument("--revision", default="main", help="branch, tag or commit (main)")
    parser.add_argument("--models-dir", type=Path, help="where to save it (MODELS_DIR)")
    args = parser.parse_args(argv)
    # Its retry warnings are pages of wrapped exceptions; each failure is said once, here.
    hub_logging.set_verbosity_error()
    if args.list:
        print(listing())
        return
    if not args.model:
        parser.error("name a model (OWNER/REPO/FILE.gguf, or one from --list)")
    models_dir = args.models_dir or Settings().models_dir
    try:
        source = resolve(args.model, args.alias)
        models_dir.mkdir(parents=True, exist_ok=True)
        pull(source, models_dir, args.revision)
    except PullError as exc:
        print(f"llmserver pull: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\nllmserver pull: interrupted; run the same command again to resume",
              file=sys.stderr)
        sys.exit(130)
    print(f"Next: restart llmserver to offer it (LLM_MODEL={source.alias} loads it first); "
          f"in the chat page, /model {source.alias} switches a conversation to it.")
