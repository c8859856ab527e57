"""DATA_DIR holds conversations, password hashes, uploads, the lexical index and the cookie
key: nobody but the account running the chatbot should read it."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
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


def stored_secret(data_dir: Path, name: str, what: str) -> str:
    """A random secret made once in `data_dir/name` and kept (the cookie key, the
    operator's token).

    Written whole to a private file, then linked into place: linking fails if it exists, so
    instances starting at once on one DATA_DIR all end up with the first one, and none ever
    reads a half-written one."""
    path = data_dir / name
    if not path.exists():
        fd, draft = tempfile.mkstemp(dir=data_dir, prefix=f".{name}.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
            os.link(draft, path)
            log.info("generated %s in %s", what, path)
        except FileExistsError:
            pass  # another instance made it first: use theirs
        finally:
            os.unlink(draft)
    return path.read_text().strip()
