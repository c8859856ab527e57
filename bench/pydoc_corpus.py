"""A documentation set nobody here wrote: 200 pages of the Python 3.11 library reference as
Debian ships it, fetched with `apt-get download` and unpacked with `dpkg-deb -x` under
build/bench/ (nothing else is fetched). `python3-doc` is a dummy package; the pages are in the
package it depends on (python3.11-doc on Debian 12), which is read from its Depends field.

    .venv/bin/python bench/pydoc_corpus.py     # fetch and unpack once; lists the pages

The subset: the 317 `library/*.html` files sorted by name, and 200 of them evenly spaced
through that order (`files[i * len(files) // 200]`): every part of the alphabet, long API
references (os, stdtypes, typing) and chapter tables of contents alike, as a user
ingesting a documentation folder would have it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "bench" / "pydoc"
PACKAGE = "python3-doc"
PAGE_COUNT = 200
QUESTIONS_FILE = Path(__file__).resolve().parent / "pydoc_questions.json"


def download_deb(package: str, into: Path) -> Path:
    """Debian's `package` fetched once into `into` with `apt-get download`."""
    into.mkdir(parents=True, exist_ok=True)
    found = sorted(into.glob(f"{package}_*.deb"))
    if not found:
        subprocess.run(["apt-get", "download", package], cwd=into, check=True)
        found = sorted(into.glob(f"{package}_*.deb"))
    return found[-1]


def _doc_package(dummy: Path) -> str:
    """The package python3-doc depends on, the one holding the HTML."""
    depends = subprocess.run(["dpkg-deb", "-f", str(dummy), "Depends"], check=True,
                             capture_output=True, text=True).stdout
    match = re.match(r"\s*([a-z0-9.+-]+)", depends)
    if not match:
        sys.exit(f"{dummy.name} names no dependency: {depends!r}")
    return match.group(1)


def library_dir() -> Path:
    """The unpacked library reference, fetching and unpacking it on first use."""
    debs = WORK / "deb"
    tree = WORK / "tree"
    found = sorted(tree.glob("usr/share/doc/python3*/html/library"))
    if found:
        return found[-1].resolve()
    deb = download_deb(_doc_package(download_deb(PACKAGE, debs)), debs)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    found = sorted(tree.glob("usr/share/doc/python3*/html/library"))
    if not found:
        sys.exit(f"{deb.name} holds no usr/share/doc/python3*/html/library")
    return found[-1].resolve()


def pages() -> list[Path]:
    files = sorted(library_dir().glob("*.html"))
    count = min(PAGE_COUNT, len(files))
    return [files[i * len(files) // count] for i in range(count)]


def questions() -> list[tuple[str, tuple[str, ...]]]:
    """(question, file names of the pages that answer it), as written in the JSON file."""
    items = json.loads(QUESTIONS_FILE.read_text())
    return [(item["question"], tuple(item["pages"])) for item in items]


def main() -> None:
    chosen = pages()
    names = {p.name for p in chosen}
    print(f"{len(chosen)} pages under {chosen[0].parent}")
    missing = sorted({page for _, answer in questions() for page in answer} - names)
    if missing:
        sys.exit(f"answer pages outside the subset: {', '.join(missing)}")
    print("\n".join(sorted(names)))


if __name__ == "__main__":
    main()
