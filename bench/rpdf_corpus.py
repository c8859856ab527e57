"""A PDF documentation set nobody here wrote: three of the R 4.2 manuals as Debian ships them
(package `r-doc-pdf`, PDFs under usr/share/R/doc/manual/, which
usr/share/doc/r-doc-pdf/manual/ only links to), fetched with `apt-get download`
and unpacked with `dpkg-deb -x` under build/bench/rpdf/ (nothing else is fetched), with a
page-level question set written from the pages' text before any retrieval was run.

    .venv/bin/python bench/rpdf_corpus.py     # fetch and unpack once; lists the PDFs

The package holds the whole R manual set (the reference manuals refman.pdf and fullrefman.pdf
run to thousands of pages). Three user-facing manuals are taken, of different kinds: R-intro.pdf
("An Introduction to R", a tutorial on the language), R-data.pdf ("R Data Import/Export",
reading and writing files, spreadsheets and databases) and R-admin.pdf ("R Installation and
Administration", building and configuring R on each platform): prose with code, tables of
contents and indexes, as a user ingesting a folder of PDFs would have them.

The questions (bench/rpdf_questions.json) are objects with `question`, `kind`, `file` and
`pages`: "task" (a task or symptom in the user's own words, avoiding the manual's terms) or
"name" (an exact-name lookup of a function, option, environment variable or file), the file
name of the PDF that answers it and the 1-based page numbers in that file (the first page of
the file is 1, whatever number is printed on it) where the answer is stated. Page text was
read with pypdf; `main()` checks that every answer page exists in its file and that every
name question's name occurs in the text of each of its pages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pydoc_corpus import download_deb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "bench" / "rpdf"
PACKAGE = "r-doc-pdf"
PDF_SUBDIR = "usr/share/R/doc/manual"
MANUALS = ("R-intro.pdf", "R-data.pdf", "R-admin.pdf")
QUESTIONS_FILE = Path(__file__).resolve().parent / "rpdf_questions.json"
KINDS = frozenset({"task", "name"})


def pdf_dir() -> Path:
    """The unpacked PDF folder, fetching and unpacking the package on first use."""
    tree = WORK / "tree"
    folder = tree / PDF_SUBDIR
    if not all((folder / name).is_file() for name in MANUALS):
        deb = download_deb(PACKAGE, WORK / "deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        missing = [name for name in MANUALS if not (folder / name).is_file()]
        if missing:
            sys.exit(f"{deb.name} holds no {', '.join(missing)} under {PDF_SUBDIR}")
    return folder.resolve()


def pdfs() -> list[Path]:
    """The three manuals to ingest, in the order of MANUALS."""
    folder = pdf_dir()
    return [folder / name for name in MANUALS]


def questions() -> list[dict]:
    """The question set, as written in the JSON file."""
    return json.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))


def page_texts(pdf: Path) -> list[str]:
    """The text of each page as pypdf extracts it; index i is page i + 1."""
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(pdf).pages]


def _problems(item: dict, texts: dict[str, list[str]]) -> list[str]:
    label = f"{item['question'][:60]!r}"
    if item.get("kind") not in KINDS:
        return [f"{label}: unknown kind {item.get('kind')!r}"]
    if item.get("file") not in texts:
        return [f"{label}: file {item.get('file')!r} is not one of {', '.join(MANUALS)}"]
    pages = texts[item["file"]]
    if not item.get("pages"):
        return [f"{label}: no answer page"]
    found = [f"{label}: page {n} is not in {item['file']} (1..{len(pages)})"
             for n in item["pages"] if not 1 <= n <= len(pages)]
    if item["kind"] == "name" and not found:
        name = item["question"].casefold()
        found += [f"{label}: name not on page {n} of {item['file']}" for n in item["pages"]
                  if name not in pages[n - 1].casefold()]
    return found


def main() -> None:
    texts = {pdf.name: page_texts(pdf) for pdf in pdfs()}
    for name, pages in texts.items():
        print(f"{name}: {len(pages)} pages")
    items = questions()
    failures = [problem for item in items for problem in _problems(item, texts)]
    seen: set[str] = set()
    for item in items:
        if item["question"] in seen:
            failures.append(f"{item['question'][:60]!r}: asked twice")
        seen.add(item["question"])
    for name in MANUALS:
        counts = {kind: sum(i["kind"] == kind and i["file"] == name for i in items)
                  for kind in sorted(KINDS)}
        print(f"{name}: " + ", ".join(f"{count} {kind}" for kind, count in counts.items()))
    if failures:
        sys.exit("failures:\n" + "\n".join(failures))
    print(f"{len(items)} questions; every answer page exists and every name is on its pages")


if __name__ == "__main__":
    main()
