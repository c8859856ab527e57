"""DATA_DIR holds conversations, password hashes, uploads, the lexical index and the cookie
key: nobody but the account running the chatbot should read it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("chatbot")


def make_private(data_dir: Path) -> None:
    """DATA_DIR holds conversations, password hashes, uploads and the cookie key: made
    0700, and everything this process creates 0600/0700 (umask), so other local users read
    none of it. A folder that exists with looser modes is the operator's choice, left as it
    is, with a warning saying how to close it."""
    os.umask(0o077)
    if not data_dir.exists():
        data_dir.mkdir(mode=0o700, parents=True)
        return
    mode = data_dir.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("DATA_DIR %s can be read by other users (mode %o): conversations, "
                    "password hashes and uploads are kept there. To close it: chmod -R "
                    "go-rwx %s", data_dir, mode, data_dir)
