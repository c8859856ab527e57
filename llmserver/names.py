"""Names from outside (a pull request's model, a model alias, a yaml's template file) checked
before any of them becomes a path, and every such path checked to stay under its folder.

Two guards, on purpose both: a name must match a strict allow-list (letters, digits, `.`,
`_`, `-`, `+`; starting with a letter or digit, so never `.`, `..`, a hidden file or an
option; no empty segment, no absolute path, no `%`-escape, no NUL), and the path built from
it is resolved and must lie inside its root. The first gives a clear 400 for a bad name;
the second holds even when the first is wrong or a folder on the way is a symlink. Without
them, a pull of `owner/repo/...gguf` would take `..` (the stem of `...gguf`) as its alias,
stage into `models/.pull/..`, which is `models/`, and remove that folder when done.

At the top of the package, not in `models/`: the build (archive members), the model
configuration, the pulls and the engine all use it, and the image's build stage copies it.
"""

from __future__ import annotations

import re
from pathlib import Path

# Long enough for any GGUF name seen on Hugging Face (about 70 characters), short enough that
# `<alias>.gguf`, `model-<alias>.jinja` and huggingface_hub's `<name>.<sha256>.incomplete`
# stay under the file system's 255 bytes.
MAX_SEGMENT = 128
SEGMENT = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._+-]{{0,{MAX_SEGMENT - 1}}}")
# OWNER/REPO/FILE, FILE may lie in folders of the repository.
MAX_SEGMENTS = 8


class UnsafeName(ValueError):
    """A name from outside that must not become a path; the message says why, for the
    client (HTTP 400) or the person at the command line."""


def _described(value: str) -> str:
    shown = value if len(value) <= 80 else value[:80] + "…"
    return repr(shown)


def check_segment(value: str, what: str) -> str:
    """`value` if it is one safe path segment (a file or folder name), else UnsafeName."""
    if SEGMENT.fullmatch(value):
        return value
    if len(value) > MAX_SEGMENT:
        why = f"longer than {MAX_SEGMENT} characters"
    elif value in ("", ".", ".."):
        why = "empty, '.' or '..'"
    else:
        why = ("only letters, digits, '.', '_', '-' and '+' are allowed, starting with a "
               "letter or digit")
    raise UnsafeName(f"{what} {_described(value)} is not a safe name: {why}")


def check_alias(alias: str) -> str:
    """A model alias that names `MODELS_DIR/<alias>.gguf`: one safe segment."""
    return check_segment(alias, "the alias")


def check_repo_path(spec: str, what: str) -> list[str]:
    """The `/`-separated segments of `spec` (a repository id or a file inside one), each a
    safe segment; no leading `/` (absolute), no empty segment (`a//b`), no `..`."""
    if spec.startswith("/"):
        raise UnsafeName(f"{what} {_described(spec)} is an absolute path")
    parts = spec.split("/")
    if len(parts) > MAX_SEGMENTS:
        raise UnsafeName(f"{what} {_described(spec)} has more than {MAX_SEGMENTS} parts")
    for part in parts:
        check_segment(part, f"{what} {_described(spec)}: the part")
    return parts


def inside(root: Path, *parts: str | Path) -> Path:
    """`root/parts...` if it lies strictly inside `root`, else UnsafeName. Every path
    llmserver builds from an outside name goes through here before it is read, written or
    removed.

    Its folder is resolved (`..` and symlinks followed), and so is `root`; its last part is
    kept as it is, so that a GGUF the operator linked into `MODELS_DIR` from elsewhere is
    still that GGUF, while a name that climbs out, or a folder on the way that is a link to
    elsewhere, is refused."""
    if any("\0" in str(part) for part in parts):
        raise UnsafeName("a path with a NUL byte")
    base = root.resolve()
    joined = base.joinpath(*parts)
    if joined.name in ("", ".", ".."):
        raise UnsafeName(f"{Path(*parts)} does not name a file inside {root}")
    path = joined.parent.resolve() / joined.name
    if path == base or not path.is_relative_to(base):
        raise UnsafeName(f"{Path(*parts)} is outside {root}")
    return path
