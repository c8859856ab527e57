"""The benchmark corpus: pages of Debian's python3.11-doc, served on loopback, with questions
whose answer lives on one page."""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DOC_ROOT = Path("/usr/share/doc/python3.11/html")

# (question, page that answers it): written by hand, worded unlike the page titles.
QUESTIONS: list[tuple[str, str]] = [
    ("How do I parse command-line options and sub-commands?", "argparse"),
    ("How can I turn a Python dict into a JSON string?", "json"),
    ("How do I match a pattern and extract groups from a string?", "re"),
    ("How do I read rows from a comma-separated values file?", "csv"),
    ("How do I compute a SHA-256 digest of some bytes?", "hashlib"),
    ("How do I run an external program and capture its output?", "subprocess"),
    ("How do I create a temporary directory that is removed automatically?", "tempfile"),
    ("Which module offers object-oriented filesystem paths?", "pathlib"),
    ("How do I copy a whole directory tree?", "shutil"),
    ("How do I implement a priority queue with a binary heap?", "heapq"),
    ("How do I insert into a sorted list keeping it sorted?", "bisect"),
    ("How do I do exact decimal arithmetic for money without float rounding?", "decimal"),
    ("How do I represent rational numbers like 3/7 exactly?", "fractions"),
    ("How do I shuffle a list randomly?", "random"),
    ("How do I compute the median and standard deviation of a list?", "statistics"),
    ("How do I add a number of days to a date?", "datetime"),
    ("How do I use IANA time zones such as America/New_York?", "zoneinfo"),
    ("How do I serialize arbitrary Python objects to bytes and back?", "pickle"),
    ("Is there a persistent dictionary stored in a file?", "shelve"),
    ("How do I use an embedded SQL database from Python?", "sqlite3"),
    ("How do I compress a file with gzip?", "gzip"),
    ("How do I read and write .zip archives?", "zipfile"),
    ("How do I extract a .tar.gz archive?", "tarfile"),
    ("How do I read an INI configuration file with sections?", "configparser"),
    ("How do I write log messages to a file with handlers and levels?", "logging"),
    ("How do I run functions in a pool of worker threads or processes?", "concurrent.futures"),
    ("How do I protect shared data between threads with a lock?", "threading"),
    ("How do I open a TCP connection with the low-level networking interface?", "socket"),
    ("How do I wrap a socket with TLS encryption and verify certificates?", "ssl"),
    ("How do I fetch a web page over HTTP with the standard library?", "urllib.request"),
    ("How do I split a URL into scheme, host and path?", "urllib.parse"),
    ("How do I send an email through an SMTP server?", "smtplib"),
    ("How do I encode binary data as base64 text?", "base64"),
    ("How do I write test cases with assertions and run them?", "unittest"),
    ("How do I replace an object with a fake during a test?", "unittest.mock"),
    ("How do I measure how long a small code snippet takes?", "timeit"),
    ("How do I find which functions use the most time in my program?", "profile"),
    ("How do I get __init__ and __repr__ generated for a class holding fields?", "dataclasses"),
    ("How do I define a set of named constant values as a class?", "enum"),
    ("How do I cache the results of a function call?", "functools"),
    ("How do I iterate over all permutations of a sequence?", "itertools"),
    ("How do I count occurrences of items with a counter?", "collections"),
    ("How do I annotate a function that takes a callable as a parameter?", "typing"),
    ("How do I declare an abstract method that subclasses must implement?", "abc"),
    ("How do I write a context manager using a generator decorator?", "contextlib"),
    ("How do I make a deep copy of a nested object?", "copy"),
    ("How do I pretty-print a nested data structure?", "pprint"),
    ("How do I wrap a long paragraph of text to 70 columns?", "textwrap"),
    ("How do I match filenames against shell wildcards like *.txt?", "fnmatch"),
    ("How do I list all files matching a pattern in a directory?", "glob"),
]
PAGES = sorted({page for _, page in QUESTIONS})


def page_file(page: str) -> Path:
    return DOC_ROOT / "library" / f"{page}.html"


def require_corpus() -> None:
    missing = [p for p in PAGES if not page_file(p).exists()]
    if missing:
        sys.exit(
            f"The benchmark corpus is missing ({len(missing)} pages, "
            f"e.g. {page_file(missing[0])}).\n"
            "Install it with: sudo apt-get update && sudo apt-get install -y python3.11-doc"
        )


@contextmanager
def served() -> Iterator[str]:
    """http.server over the docs folder on 127.0.0.1; yields the library/ base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(DOC_ROOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/library/"
    finally:
        server.shutdown()
        server.server_close()


def hit(source: str, page: str) -> bool:
    return source.rsplit("/", 1)[-1] == f"{page}.html"
